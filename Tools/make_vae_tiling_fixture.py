"""Reference outputs of diffusers' tiled VAE decode/encode (`enable_tiling`) on the tiny test VAE.

Reads Tests/ModelsTests/Fixtures/tiny-models/vae (made by make_model_fixtures.py), sets 64-pixel tiles
(8 latent pixels) with diffusers' default 25% overlap, and writes
Tests/ModelsTests/Fixtures/vae-tiling.safetensors: z (1, 16, 20, 28) -> 4 x 5 decode tiles, image
(1, 3, 152, 216) -> 4 x 5 encode tiles, each with the tiled and the untiled result (float32).
Run: /work/venv/bin/python Tools/make_vae_tiling_fixture.py
"""
import os
import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelsTests", "Fixtures")
vae = AutoencoderKL.from_pretrained(os.path.join(root, "tiny-models", "vae")).eval()
torch.manual_seed(7)
# Smooth-ish latents (a low-frequency field plus noise) so tiles see similar statistics, as real latents do.
z = torch.randn(1, 16, 20, 28) * 0.5 + torch.nn.functional.interpolate(torch.randn(1, 16, 5, 7), size=(20, 28), mode="bilinear")
image = (torch.rand(1, 3, 152, 216) * 2 - 1).clamp(-1, 1)
s, sh = vae.config.scaling_factor, vae.config.shift_factor
ref = {"z": z, "image": image}
with torch.no_grad():
    ref["decoded_untiled"] = vae.decode(z / s + sh).sample
    ref["encoded_untiled"] = (vae.encode(image).latent_dist.mean - sh) * s
    vae.enable_tiling()
    vae.tile_sample_min_size, vae.tile_latent_min_size, vae.tile_overlap_factor = 64, 8, 0.25
    ref["decoded_tiled"] = vae.decode(z / s + sh).sample
    ref["encoded_tiled"] = (vae.encode(image).latent_dist.mean - sh) * s
d = ref["decoded_tiled"] - ref["decoded_untiled"]
print("decode tiled vs untiled: max abs", d.abs().max().item(), "rms", d.pow(2).mean().sqrt().item())
save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(root, "vae-tiling.safetensors"))
print({k: tuple(v.shape) for k, v in ref.items()})

# The numbers VAETilingTests.testTiledDecodeOfTrainedVAEAtItsSampleSize compares with: the default model's
# VAE (sample_size 128) on a 256x256 mosaic of its four samples, reconstruction error untiled vs 128-pixel
# tiles (printed; diffusers 0.42.1 gave 53.21/255 and 22.35/255 for the v1 model, 55.86/255 and 31.86/255
# for v2, 54.20/255 and 29.40/255 for v3).
import numpy as np
from PIL import Image
model = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Models", "default")
dvae = AutoencoderKL.from_pretrained(os.path.join(model, "vae")).eval()
ims = [np.asarray(Image.open(os.path.join(model, "samples", f"sample{i}.png")).convert("RGB")) for i in range(1, 5)]
m = np.concatenate([np.concatenate(ims[:2], 1), np.concatenate(ims[2:], 1)], 0).astype(np.float32) / 127.5 - 1
x = torch.from_numpy(m).permute(2, 0, 1)[None]
px = lambda t: ((t / 2 + 0.5).clamp(0, 1) * 255).round()
with torch.no_grad():
    zz = dvae.encode(x).latent_dist.mean
    print("default VAE untiled mean |error|", (px(dvae.decode(zz).sample) - px(x)).abs().mean().item())
    dvae.enable_tiling(); dvae.tile_sample_min_size, dvae.tile_latent_min_size = 128, 16
    print("default VAE 128-pixel tiles mean |error|", (px(dvae.decode(zz).sample) - px(x)).abs().mean().item())
