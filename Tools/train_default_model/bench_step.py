"""Training-step speed probe for train.py on the GPU (no data rendering, no export): the joint
CLIP + T5 + DiT step at several batch sizes, eager and torch.compile'd, and the VAE step. Prints
steady-state ms/step and samples/s per configuration, so the recipe's batch and mode can be chosen
from numbers measured on the card.

usage: python bench_step.py --tok TOKDIR [--batches 256,512,1024] [--compile-batches 512,1024]
       [--vae-batches 64,128,256] [--steps 120]
"""
import argparse
import time

import torch

import train

ap = argparse.ArgumentParser()
ap.add_argument("--tok", required=True)
ap.add_argument("--batches", default="256,512,1024,2048")
ap.add_argument("--compile-batches", default="512,1024")
ap.add_argument("--compile-mode", default=None)
ap.add_argument("--vae-batches", default="64,128,256")
ap.add_argument("--steps", type=int, default=120)
a = ap.parse_args()
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
torch.backends.cuda.enable_cudnn_sdp(False)
torch._dynamo.config.automatic_dynamic_shapes = False   # one static graph per batch size
torch._dynamo.config.cache_size_limit = 16
from transformers import AutoTokenizer
t5_vocab = len(AutoTokenizer.from_pretrained(a.tok + "/tokenizer_2"))

# synthetic dataset with the real shapes: 16x16 latents (128x128 images), CLIP 77 and T5 32 ids
n = 8192
g = torch.Generator(device=device).manual_seed(0)
lat = torch.randn(n, train.LATENT_CHANNELS, 16, 16, device=device, generator=g).to(torch.bfloat16)
c_ids = torch.randint(0, 49408, (n, 2, train.CLIP_LEN), device=device, generator=g)
t_ids = torch.randint(0, t5_vocab, (n, 2, train.T5_LEN), device=device, generator=g)


def args_for(batch, compile_):
    return argparse.Namespace(init_model=None, init_step=0, lr=4e-4, compile=compile_, compile_mode=a.compile_mode,
                              dit_seconds=1e9, dit_steps=a.steps, warmup=10, decay_from=0.6, resume_lr_factor=1.0,
                              ema=0.999, batch=batch)


results = []
for compile_, batches in ((False, a.batches), (True, a.compile_batches)):
    for b in [int(x) for x in batches.split(",") if x]:
        t0 = time.time()
        try:
            rep = train.train_dit(args_for(b, compile_), lat, c_ids, t_ids, t5_vocab, device)[3]
            ms = rep["steady_ms_per_step"]
            line = (f"DiT step batch {b:5d} {'compiled' if compile_ else 'eager   '}: {ms:7.1f} ms/step, "
                    f"{b / ms * 1000:8.0f} samples/s (run incl. compile {time.time() - t0:.0f}s)")
        except Exception as e:  # a compile failure is a result too
            line = f"DiT step batch {b} {'compiled' if compile_ else 'eager'}: FAILED {type(e).__name__}: {str(e)[:300]}"
        train.log(line)
        results.append(line)
        torch.cuda.empty_cache() if device.type == "cuda" else None

from diffusers import AutoencoderKL
import torch.nn.functional as F
for b in [int(x) for x in a.vae_batches.split(",") if x]:
    vae = AutoencoderKL(**train.vae_config()).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)
    x = torch.rand(b, 3, 128, 128, device=device) * 2 - 1
    for i in range(a.steps // 2 + 10):
        if i == 10:
            torch.cuda.synchronize() if device.type == "cuda" else None
            t0 = time.time()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            post = vae.encode(x).latent_dist
            rec = vae.decode(post.sample()).sample.float()
        loss = F.mse_loss(rec, x) + 0.5 * (rec - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
    torch.cuda.synchronize() if device.type == "cuda" else None
    ms = (time.time() - t0) / (a.steps // 2) * 1000
    line = f"VAE step batch {b:4d}: {ms:7.1f} ms/step, {b / ms * 1000:7.0f} images/s"
    train.log(line)
    results.append(line)
print("\n".join(["== summary"] + results))
