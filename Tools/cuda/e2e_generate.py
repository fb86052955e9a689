"""End-to-end generate, ours vs diffusers, on one random-weight model folder (issue 7's "whole generate
command end to end (20 steps) and peak device memory").

  make DIR [--tiny]   writes a FLUX.1-dev folder layout with random bf16 weights: transformer/ (12B,
                      FluxTransformer2DModel), text_encoder/ (CLIP-L), text_encoder_2/ (T5-XXL encoder),
                      vae/ (Flux VAE), scheduler/, and the tokenizers copied from Models/default (real CLIP
                      BPE; the small T5 SentencePiece model only yields ids < 256, fine for timing).
                      --tiny: the same layout at toy sizes, to test this script and the CLI on a CPU.
  torch DIR [--size 1024 --steps 20 --device cuda]
                      diffusers FluxPipeline on DIR (bf16), prints one JSON line: wall seconds of the
                      pipeline call (warm: after one 1-step call), load seconds, peak device memory.

Ours on the same folder: `majicflux generate --model DIR --device cuda --width 1024 --height 1024
--steps 20 --seed 1` (wall time, and peak memory from `nvidia-smi --query-gpu=memory.used` polled by
Tools/cuda/device_e2e.sh).
"""
import argparse
import json
import os
import shutil
import time

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

FULL = dict(
    dit=dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
             num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
             axes_dims_rope=[16, 56, 56]),
    clip=dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768),
    t5=dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64),
    vae=dict(block_out_channels=[128, 256, 512, 512], sample_size=1024))
TINY = dict(
    dit=dict(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=32,
             num_attention_heads=2, joint_attention_dim=64, pooled_projection_dim=32, guidance_embeds=True,
             axes_dims_rope=[4, 14, 14]),
    clip=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
              max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32),
    t5=dict(vocab_size=256, d_model=64, d_kv=16, d_ff=128, num_layers=1, num_heads=4),
    vae=dict(block_out_channels=[32, 32, 32, 32], sample_size=128))


def make(out, tiny):
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
    cfg = TINY if tiny else FULL
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    for sub in ("tokenizer", "tokenizer_2", "scheduler"):
        shutil.copytree(os.path.join(ROOT, "Models", "default", sub), os.path.join(out, sub), dirs_exist_ok=True)
    with open(os.path.join(out, "tokenizer_2", "tokenizer_config.json")) as f:
        tc = json.load(f)
    tc["model_max_length"] = 512  # FLUX.1-dev's T5 length
    with open(os.path.join(out, "tokenizer_2", "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=2)
    with open(os.path.join(ROOT, "Models", "default", "model_index.json")) as f:
        index = f.read()
    with open(os.path.join(out, "model_index.json"), "w") as f:
        f.write(index)

    def save(model, sub):
        model.to(torch.bfloat16).save_pretrained(os.path.join(out, sub), safe_serialization=True)
        print(f"{sub}: {sum(p.numel() for p in model.parameters()) / 1e9:.3f}B parameters, {time.time() - t0:.0f} s", flush=True)

    torch.set_default_dtype(torch.bfloat16)
    with torch.device(dev):
        save(FluxTransformer2DModel(**cfg["dit"]), "transformer")
        save(T5EncoderModel(T5Config(**cfg["t5"], feed_forward_proj="gated-gelu", is_encoder_decoder=False,
                                     use_cache=False, tie_word_embeddings=False)), "text_encoder_2")
        save(CLIPTextModel(CLIPTextConfig(**cfg["clip"], bos_token_id=0, eos_token_id=2, pad_token_id=1)), "text_encoder")
        v = cfg["vae"]
        save(AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, down_block_types=["DownEncoderBlock2D"] * 4,
                           up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=v["block_out_channels"],
                           layers_per_block=2, norm_num_groups=32, sample_size=v["sample_size"], scaling_factor=0.3611,
                           shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False), "vae")
    torch.set_default_dtype(torch.float32)
    print(f"made {out} in {time.time() - t0:.0f} s", flush=True)


def run_torch(d, size, steps, device):
    from diffusers import FluxPipeline
    t0 = time.time()
    pipe = FluxPipeline.from_pretrained(d, torch_dtype=torch.bfloat16).to(device)
    pipe.set_progress_bar_config(disable=True)
    load = time.time() - t0
    kw = dict(prompt="a red circle on the left on a white background", height=size, width=size,
              guidance_scale=3.5, max_sequence_length=512, output_type="np")
    pipe(num_inference_steps=1, generator=torch.Generator("cpu").manual_seed(1), **kw)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t1 = time.time()
    img = pipe(num_inference_steps=steps, generator=torch.Generator("cpu").manual_seed(1), **kw).images[0]
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.time() - t1
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    print(json.dumps(dict(impl="diffusers", size=size, steps=steps, wall_s=round(wall, 3), load_s=round(load, 1),
                          peak_allocated_gib=peak, mean=float(img.mean()), torch=torch.__version__)), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make"); m.add_argument("dir"); m.add_argument("--tiny", action="store_true")
    t = sub.add_parser("torch"); t.add_argument("dir"); t.add_argument("--size", type=int, default=1024)
    t.add_argument("--steps", type=int, default=20); t.add_argument("--device", default="cuda")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.dir, a.tiny)
    else:
        run_torch(a.dir, a.size, a.steps, a.device)
