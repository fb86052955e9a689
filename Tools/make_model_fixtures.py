"""Tiny random-weight CLIP text model, T5 encoder, Flux DiT and Flux VAE made with transformers /
diffusers, saved in the layouts real checkpoints use, with reference outputs on fixed inputs.

Writes Tests/ModelsTests/Fixtures/tiny-models/:
  clip/{config.json, model.safetensors}            HF CLIPTextModel layout
  t5/{config.json, model.safetensors}              HF T5EncoderModel layout
  transformer/{config.json, diffusion_pytorch_model.safetensors}   diffusers Flux layout
  flux-comfy.safetensors                           the same DiT in BFL names with ComfyUI's prefix
  vae/{config.json, diffusion_pytorch_model.safetensors}           diffusers AutoencoderKL layout
  ae.safetensors                                   the same VAE in BFL names
  reference.safetensors                            inputs and reference outputs (float32)
Run: /work/venv/bin/python Tools/make_model_fixtures.py
"""
import json, os, torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
from diffusers import FluxTransformer2DModel, AutoencoderKL
import sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_layouts import flux_to_bfl, vae_to_bfl

torch.manual_seed(1234)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelsTests", "Fixtures", "tiny-models")
os.makedirs(root, exist_ok=True)
ref = {}

def randomize(model, scale=0.2):
    """Every parameter random (norm weights around 1) so each one matters to the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("scale")) and "bias" not in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))

def save_dir(model, sub, weights_name, config):
    d = os.path.join(root, sub); os.makedirs(d, exist_ok=True)
    # Tied tensors are stored once, as save_pretrained does (T5: shared.weight, not encoder.embed_tokens).
    sd = {k: v.contiguous().clone() for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
    save_file(sd, os.path.join(d, weights_name))
    json.dump(config, open(os.path.join(d, "config.json"), "w"), indent=1)
    return sd

# ---- CLIP text model (legacy eos_token_id 2: pooled at argmax(ids)) ----
cc = CLIPTextConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                    layer_norm_eps=1e-5, eos_token_id=2, bos_token_id=0, pad_token_id=1)
clip = CLIPTextModel(cc).eval(); randomize(clip)
save_dir(clip, "clip", "model.safetensors", {k: getattr(cc, k) for k in
         ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
          "max_position_embeddings", "hidden_act", "layer_norm_eps", "eos_token_id"]})
ids = torch.full((2, 77), 999, dtype=torch.long); ids[:, 0] = 998
ids[0, 1:6] = torch.tensor([5, 17, 300, 42, 7]); ids[1, 1:30] = torch.randint(3, 990, (29,))
with torch.no_grad():
    out = clip(input_ids=ids)
ref["clip.ids"] = ids; ref["clip.hidden"] = out.last_hidden_state; ref["clip.pooled"] = out.pooler_output

# ---- T5 encoder ----
tc = T5Config(vocab_size=500, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
              relative_attention_num_buckets=32, relative_attention_max_distance=128,
              feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, is_encoder_decoder=False)
t5 = T5EncoderModel(tc).eval(); randomize(t5, 0.3)
save_dir(t5, "t5", "model.safetensors", {k: getattr(tc, k) for k in
         ["vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads", "relative_attention_num_buckets",
          "relative_attention_max_distance", "feed_forward_proj", "layer_norm_epsilon"]})
tids = torch.zeros((1, 40), dtype=torch.long); tids[0, :25] = torch.randint(3, 500, (25,)); tids[0, 25] = 1
with torch.no_grad():
    ref["t5.hidden"] = t5(input_ids=tids).last_hidden_state
ref["t5.ids"] = tids

# ---- Flux DiT (head dim 32 -> RoPE axes [4, 14, 14], the default our loader infers) ----
fcfg = dict(patch_size=1, in_channels=64, num_layers=2, num_single_layers=2, attention_head_dim=32,
            num_attention_heads=2, joint_attention_dim=64, pooled_projection_dim=64, guidance_embeds=True,
            axes_dims_rope=[4, 14, 14])
flux = FluxTransformer2DModel(**fcfg).eval(); randomize(flux, 0.15)
d = os.path.join(root, "transformer"); os.makedirs(d, exist_ok=True)
fsd = {k: v.contiguous() for k, v in flux.state_dict().items()}
save_file(fsd, os.path.join(d, "diffusion_pytorch_model.safetensors"))
json.dump(dict(fcfg, _class_name="FluxTransformer2DModel"), open(os.path.join(d, "config.json"), "w"), indent=1)

bfl = flux_to_bfl(fsd)
assert len(bfl) == len(fsd) - sum(1 for k in fsd if "to_k" in k or "to_v" in k or "add_k" in k or "add_v" in k or "proj_mlp" in k), "mapping lost tensors"
save_file({"model.diffusion_model." + k: v.contiguous() for k, v in bfl.items()}, os.path.join(root, "flux-comfy.safetensors"))

lh, lw = 6, 8            # latent 6x8 -> 3x4 = 12 image tokens (a 48x64 image)
img = torch.randn(1, (lh // 2) * (lw // 2), 64)
txt = torch.randn(1, 8, 64); pooled = torch.randn(1, 64)
img_ids = torch.zeros(lh // 2, lw // 2, 3)
img_ids[..., 1] += torch.arange(lh // 2)[:, None]; img_ids[..., 2] += torch.arange(lw // 2)[None, :]
img_ids = img_ids.reshape(-1, 3); txt_ids = torch.zeros(8, 3)
with torch.no_grad():
    fo = flux(hidden_states=img, encoder_hidden_states=txt, pooled_projections=pooled,
              timestep=torch.tensor([0.7]), guidance=torch.tensor([3.5]), img_ids=img_ids, txt_ids=txt_ids,
              return_dict=False)[0]
ref.update({"flux.img": img, "flux.txt": txt, "flux.pooled": pooled, "flux.out": fo})

# ---- VAE (4 levels -> 8x down-sampling, Flux layout, 16 latent channels) ----
vcfg = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[16, 32, 32, 32], layers_per_block=2,
            latent_channels=16, norm_num_groups=8, scaling_factor=0.3611, shift_factor=0.1159,
            use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True)
vae = AutoencoderKL(**vcfg).eval(); randomize(vae, 0.1)
d = os.path.join(root, "vae"); os.makedirs(d, exist_ok=True)
vsd = {k: v.contiguous() for k, v in vae.state_dict().items()}
save_file(vsd, os.path.join(d, "diffusion_pytorch_model.safetensors"))
json.dump(dict(vcfg, _class_name="AutoencoderKL"), open(os.path.join(d, "config.json"), "w"), indent=1)

ae = vae_to_bfl(vsd)
assert len(ae) == len(vsd), f"VAE mapping lost tensors: {len(ae)} vs {len(vsd)}"
save_file({k: v.contiguous() for k, v in ae.items()}, os.path.join(root, "ae.safetensors"))
z = torch.randn(1, 16, 4, 6)
image = torch.rand(1, 3, 32, 48) * 2 - 1
with torch.no_grad():
    ref["vae.z"] = z
    ref["vae.decoded"] = vae.decode(z / 0.3611 + 0.1159).sample
    ref["vae.image"] = image
    ref["vae.encoded"] = (vae.encode(image).latent_dist.mean - 0.1159) * 0.3611

save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(root, "reference.safetensors"))
print("wrote", root, {k: tuple(v.shape) for k, v in ref.items()})
