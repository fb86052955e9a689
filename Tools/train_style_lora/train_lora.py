"""Train a style LoRA (style.py: night, or dotted) on the default model's DiT, on the CPU.

- Text encoders and VAE frozen. Once, before training: N styled scenes are rendered and VAE-encoded
  (latent means, then (mean - shift_factor) * scaling_factor with the shipped VAE config's values, as
  FluxPipeline decodes them), and both captions of each scene (English, Chinese; the base grammar, no
  trigger word) are encoded by FluxPipeline.encode_prompt (T5 length 32, CLIP pooled). Cached to --cache.
- LoRA (peft, through diffusers' add_adapter) of rank --rank, alpha = rank (scale 1). --targets text
  (the shipped Night LoRA): the 7 Linears of the double blocks' text stream; --targets all: every Linear
  of the double and single blocks (attention q/k/v/out, both streams' MLPs, the modulations, the single
  blocks' proj_mlp / proj_out).
- Loss exactly as Tools/train_default_model/train.py: x_t = (1-t) x0 + t eps, target eps - x0, MSE on the
  packed latents; t = shift(sigmoid(N(0,1))) with the dev shift for 64 image tokens (1.596); guidance
  uniform in [1, 5] per sample; each sample takes its English or Chinese caption at random; AdamW
  (0.9, 0.99), grad clip 1.0, linear warm-up, linear decay over the last --decay-frac of the time budget.
- Checkpoints (diffusers LoRA format, FluxPipeline.save_lora_weights) every --ckpt-seconds into
  --work/stepNNNNN/ and --work/last/ (and --work/final/ at the end), so a partial run is usable.

usage: python train_lora.py --style night --targets text --work /tmp/lora_work/night1 --seconds 1500
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import style  # noqa: E402  (puts Tools/train_default_model on sys.path)
from style import scenes  # noqa: E402
import train as base  # noqa: E402  Tools/train_default_model/train.py: pack, image_ids, dev_mu, T5_LEN

SEED_BASE = 20_000_000  # the base model's training scenes use 10,000,000 + i

# the block Linears, by their diffusers names inside each block
DOUBLE_TARGETS = ["norm1.linear", "norm1_context.linear", "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0",
                  "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out",
                  "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2"]
SINGLE_TARGETS = ["norm.linear", "attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp", "proj_out"]
# --targets text: only the double blocks' text stream (the Linears that see text tokens alone), so the
# image stream computes exactly what the base model computes for some (learned) text conditioning
TEXT_TARGETS = ["norm1_context.linear", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out",
                "ff_context.net.0.proj", "ff_context.net.2"]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def target_modules(dit, which="all"):
    names = []
    for i in range(len(dit.transformer_blocks)):
        names += [f"transformer_blocks.{i}.{t}" for t in (DOUBLE_TARGETS if which == "all" else TEXT_TARGETS)]
    if which == "all":
        for i in range(len(dit.single_transformer_blocks)):
            names += [f"single_transformer_blocks.{i}.{t}" for t in SINGLE_TARGETS]
    return names


def build_dataset(model_dir, n, cache, style_name):
    """Styled latents (n, 16, 16, 16) f32, T5 embeddings (n, 2, 32, 128), pooled CLIP (n, 2, 64); 2 = en, zh."""
    if cache and os.path.exists(cache):
        d = torch.load(cache)
        if d["n"] == n and d["model"] == os.path.abspath(model_dir) and d.get("style", "dotted") == style_name:
            log(f"dataset from {cache}")
            return d
    from diffusers import FluxPipeline
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()  # CLIP truncates long byte-level Chinese captions at 77 tokens, as in base training
    t0 = time.time()
    pipe = FluxPipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    vae = pipe.vae
    shift, scale = vae.config.shift_factor, vae.config.scaling_factor
    lat, enc, pooled, texts = [], [], [], []
    n_named_texture = 0
    with torch.no_grad():
        for s in range(0, n, 64):
            sc = [scenes.sample_scene(SEED_BASE + i) for i in range(s, min(n, s + 64))]
            n_named_texture += sum(style.names_texture(x) for x in sc)
            x = style.render_style(sc, style_name) * 2 - 1
            lat.append((vae.encode(x).latent_dist.mean - shift) * scale)
            caps = [x["en"] for x in sc] + [x["zh"] for x in sc]
            pe, pp, _ = pipe.encode_prompt(prompt=caps, prompt_2=None, max_sequence_length=base.T5_LEN)
            k = len(sc)
            enc.append(torch.stack([pe[:k], pe[k:]], 1))
            pooled.append(torch.stack([pp[:k], pp[k:]], 1))
            texts += [(x["en"], x["zh"]) for x in sc]
            if s % 1024 == 0:
                log(f"dataset {s}/{n} ({time.time() - t0:.0f}s)")
    d = dict(n=n, model=os.path.abspath(model_dir), style=style_name, lat=torch.cat(lat), enc=torch.cat(enc), pooled=torch.cat(pooled),
             texts=texts, named_texture=n_named_texture, seconds=time.time() - t0)
    log(f"dataset ready: {n} scenes in {d['seconds']:.0f}s ({n_named_texture} captions name a texture); "
        f"latent mean {float(d['lat'].mean()):.3f} std {float(d['lat'].std()):.3f}")
    if cache:
        os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
        torch.save(d, cache)
    return d


def lora_dit(model_dir, rank, which="all"):
    from diffusers import FluxTransformer2DModel
    from peft import LoraConfig
    dit = FluxTransformer2DModel.from_pretrained(os.path.join(model_dir, "transformer"), torch_dtype=torch.float32)
    dit.requires_grad_(False)
    dit.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=True, target_modules=target_modules(dit, which)))
    return dit


def save_lora(dit, path, meta):
    from diffusers import FluxPipeline
    from peft.utils import get_peft_model_state_dict
    os.makedirs(path, exist_ok=True)
    FluxPipeline.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(dit), safe_serialization=True)
    with open(os.path.join(path, "train_state.json"), "w") as f:
        json.dump(meta, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "Models", "default"))
    ap.add_argument("--work", required=True, help="folder for checkpoints and the log")
    ap.add_argument("--cache", default=None, help="dataset cache file (default WORK/../dataset_N.pt)")
    ap.add_argument("--style", default="night", choices=["night", "dotted"])
    ap.add_argument("--n-scenes", type=int, default=4096)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=1800, help="training time budget (dataset not counted)")
    ap.add_argument("--steps", type=int, default=10**9)
    ap.add_argument("--decay-frac", type=float, default=0.3, help="linear decay to 2%% over the last part of the budget")
    ap.add_argument("--ckpt-seconds", type=float, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--targets", choices=["all", "text"], default="all")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    cache = a.cache or os.path.join(os.path.dirname(os.path.abspath(a.work)), f"dataset_{a.style}_{a.n_scenes}.pt")
    data = build_dataset(a.model, a.n_scenes, cache, a.style)
    lat, enc, pooled = data["lat"], data["enc"], data["pooled"]
    dit = lora_dit(a.model, a.rank, a.targets)
    params = [p for p in dit.parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in params)
    log(f"LoRA rank {a.rank}: {n_lora} parameters in {len(params)} tensors on {len(target_modules(dit, a.targets))} Linears")
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.99), weight_decay=0.0)
    hw = lat.shape[-1]
    img_ids = base.image_ids(hw // 2, hw // 2, "cpu")
    txt_ids = torch.zeros(base.T5_LEN, 3)
    shift = math.exp(base.dev_mu((hw // 2) ** 2))
    gen = torch.Generator().manual_seed(7)
    n = lat.shape[0]
    t0 = last_ckpt = time.time()
    step, hist, run = 0, [], []
    meta = dict(args=vars(a), lora_params=n_lora, dataset_seconds=round(data["seconds"], 1), n_scenes=n,
                named_texture=data.get("named_texture", data.get("kept_texture")), timestep_shift=shift)
    while True:
        el = time.time() - t0
        if el > a.seconds or step >= a.steps:
            break
        frac = el / a.seconds
        warm = min(1.0, (step + 1) / a.warmup)
        decay = 1.0 if frac < 1 - a.decay_frac else max(0.02, (1 - frac) / a.decay_frac)
        lr = a.lr * warm * decay
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, n, (a.batch,), generator=gen)
        lang = torch.randint(0, 2, (a.batch,), generator=gen)
        x0 = lat[idx]
        e = enc[idx, lang]
        pp = pooled[idx, lang]
        noise = torch.randn(x0.shape, generator=gen)
        u = torch.sigmoid(torch.randn(a.batch, generator=gen))
        t = shift * u / (1 + (shift - 1) * u)
        g_val = 1.0 + 4.0 * torch.rand(a.batch, generator=gen)
        xt = (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1) * noise
        v = dit(hidden_states=base.pack(xt), encoder_hidden_states=e, pooled_projections=pp, timestep=t,
                img_ids=img_ids, txt_ids=txt_ids, guidance=g_val, return_dict=False)[0]
        loss = F.mse_loss(v, base.pack(noise - x0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if not bool(torch.isfinite(gn)):
            log(f"step {step}: non-finite gradient, skipped")
            step += 1
            continue
        opt.step()
        run.append(float(loss.detach()))
        step += 1
        if step % 25 == 0:
            hist.append((step, round(time.time() - t0, 1), round(float(np.mean(run)), 5)))
            log(f"step {step} loss {np.mean(run):.4f} lr {lr:.2e} gnorm {float(gn):.3f} "
                f"({(time.time() - t0) / step:.2f} s/step)")
            run = []
        if time.time() - last_ckpt > a.ckpt_seconds:
            meta.update(step=step, seconds=round(time.time() - t0, 1), history=hist)
            save_lora(dit, os.path.join(a.work, "last"), meta)
            save_lora(dit, os.path.join(a.work, f"step{step:05d}"), meta)
            log(f"checkpoint at step {step}")
            last_ckpt = time.time()
    meta.update(step=step, seconds=round(time.time() - t0, 1), history=hist, done=True)
    save_lora(dit, os.path.join(a.work, "last"), meta)
    save_lora(dit, os.path.join(a.work, "final"), meta)
    log(f"done: {step} steps in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
