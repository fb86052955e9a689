"""Train the MajicFlux default model: a micro FLUX.1-dev-layout pipeline on procedural scenes.

Stages (all in one run, time-budgeted so that it fits one 10-minute device call):
  1. copy the prebuilt tokenizers (build_tokenizers.py) into the model folder;
  2. train the VAE (AutoencoderKL, Flux layout: 16 latent channels, 8x down, no quant convs);
  3. render N scenes, encode them, compute shift_factor (mean) and scaling_factor (1/std);
  4. train CLIP text model + T5 encoder + FluxTransformer2DModel jointly (rectified flow,
     logit-normal timesteps shifted like the dev schedule at 128x128, random guidance in [1, 5]);
  5. save the EMA weights in bf16 in the FLUX.1-dev folder layout plus the BFL single file;
  6. evaluate held-out prompts through diffusers' FluxPipeline and save sample PNGs (evaluate.py).

usage: python train.py --tok TOKDIR --out MODELDIR [--vae-seconds 90 --dit-seconds 400 ...]
"""
import argparse
import json
import math
import os
import random
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F

import scenes

T5_LEN = 32  # tokenizer_2 model_max_length; captions are at most 23 tokens (v1 used 256: 4x the DiT work)
CLIP_LEN = 77
LATENT_CHANNELS = 16


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


# ------------------------------------------------------------------------------------------ configs

def vae_config():
    return dict(in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                block_out_channels=[32, 32, 64, 64], layers_per_block=2, act_fn="silu", norm_num_groups=32,
                sample_size=scenes.IMAGE_SIZE, scaling_factor=1.0, shift_factor=0.0, force_upcast=True,
                use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=True)


def dit_config():
    return dict(patch_size=1, in_channels=64, out_channels=None, num_layers=1, num_single_layers=2,
                attention_head_dim=128, num_attention_heads=2, joint_attention_dim=128,
                pooled_projection_dim=64, guidance_embeds=True, axes_dims_rope=[16, 56, 56])


def clip_config():
    from transformers import CLIPTextConfig
    # legacy ids as in openai/clip-vit-large-patch14 (eos_token_id 2 -> pooled token = argmax of ids)
    return CLIPTextConfig(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                          num_attention_heads=2, max_position_embeddings=CLIP_LEN, hidden_act="quick_gelu",
                          layer_norm_eps=1e-5, projection_dim=64, bos_token_id=0, eos_token_id=2, pad_token_id=1,
                          attention_dropout=0.0, dropout=0.0)


def t5_config(vocab_size):
    from transformers import T5Config
    return T5Config(vocab_size=vocab_size, d_model=128, d_kv=32, d_ff=320, num_layers=4, num_heads=4,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128,
                    feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6,
                    is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


SCHEDULER_CONFIG = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0",
                    "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
                    "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}

MODEL_INDEX = {"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0.dev0",
               "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
               "text_encoder": ["transformers", "CLIPTextModel"],
               "text_encoder_2": ["transformers", "T5EncoderModel"],
               "tokenizer": ["transformers", "CLIPTokenizer"],
               "tokenizer_2": ["transformers", "T5TokenizerFast"],
               "transformer": ["diffusers", "FluxTransformer2DModel"],
               "vae": ["diffusers", "AutoencoderKL"]}


def dev_mu(image_seq_len):
    m = (1.15 - 0.5) / (4096 - 256)
    return image_seq_len * m + 0.5 - m * 256


# ------------------------------------------------------------------------------------------ helpers

def pack(lat):
    b, c, h, w = lat.shape
    return lat.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def image_ids(h, w, device):
    ids = torch.zeros(h, w, 3, device=device)
    ids[..., 1] = torch.arange(h, device=device)[:, None]
    ids[..., 2] = torch.arange(w, device=device)[None, :]
    return ids.reshape(h * w, 3)


def scene_batch(rng_seed_base, start, n):
    return [scenes.sample_scene(rng_seed_base + start + i) for i in range(n)]


class EMA:
    def __init__(self, modules):
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone().float() for p in self.params]

    @torch.no_grad()
    def update(self, decay):
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in self.params], 1.0 - decay)

    @torch.no_grad()
    def copy_to(self):
        for p, s in zip(self.params, self.shadow):
            p.copy_(s)


# ------------------------------------------------------------------------------------------ VAE

def train_vae(args, device):
    from diffusers import AutoencoderKL
    torch.manual_seed(1)
    vae = AutoencoderKL(**vae_config()).to(device)
    if args.vae_init:
        init = AutoencoderKL.from_pretrained(args.vae_init, torch_dtype=torch.float32)
        vae.load_state_dict(init.state_dict())
        log(f"vae initialised from {args.vae_init}")
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, betas=(0.9, 0.99), weight_decay=0.0,
                            fused=device.type == "cuda")
    t0, seed_base = time.time(), 1_000_000_000
    pool = torch.empty(args.vae_pool, 3, scenes.IMAGE_SIZE, scenes.IMAGE_SIZE, dtype=torch.uint8, device=device)
    for s in range(0, args.vae_pool, 1024):
        k = min(1024, args.vae_pool - s)
        pool[s:s + k] = (scenes.render(scene_batch(seed_base, s, k), device) * 255).round().to(torch.uint8)
    log(f"vae pool of {args.vae_pool} images rendered in {time.time() - t0:.0f}s")
    t0, step, hist = time.time(), 0, []
    while True:
        el = time.time() - t0
        if el > args.vae_seconds or step >= args.vae_steps:
            break
        frac = el / args.vae_seconds
        for g in opt.param_groups:
            g["lr"] = args.vae_lr * min(1.0, (step + 1) / 100) * (1.0 if frac < 0.7 else max(0.05, (1 - frac) / 0.3))
        idx = torch.randint(0, pool.shape[0], (args.vae_batch,), device=device)
        x = pool[idx].float() / 127.5 - 1
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            post = vae.encode(x).latent_dist
            z = post.sample()
            rec = vae.decode(z).sample.float()
        kl = 0.5 * (post.mean.float() ** 2 + post.var.float() - 1.0 - post.logvar.float()).mean()
        mse = F.mse_loss(rec, x)
        loss = mse + 0.5 * (rec - x).abs().mean() + args.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            hist.append((step, round(time.time() - t0, 1), float(mse.detach()), float(kl.detach())))
            log(f"vae step {step} mse {float(mse):.5f} kl {float(kl):.3f}")
        step += 1
    log(f"vae done: {step} steps in {time.time() - t0:.0f}s")
    vae.eval()
    return vae, dict(steps=step, history=hist, reconstruction=vae_reconstruction_check(vae, device))


@torch.no_grad()
def vae_reconstruction_check(vae, device):
    """The analyser on VAE reconstructions of ground-truth renders of every held-out combination x
    background (an upper bound for the whole pipeline's score)."""
    import evaluate
    items = [(None, 123 + bg, combo, None, bg) for combo in scenes.HELD_OUT for bg in range(len(scenes.BACKGROUNDS))]
    x = scenes.render([scenes.scene_for_combo(c, s, p, bg, seed) for (_, seed, (c, s, p), _, bg) in items], device) * 2 - 1
    rec = vae.decode(vae.encode(x).latent_dist.mean).sample.float()
    ims = ((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    pct, _ = evaluate.score(items, list(ims))
    log(f"vae reconstructions of {len(items)} held-out scenes, analyser: {pct}")
    return pct


@torch.no_grad()
def build_dataset(args, vae, clip_tok, t5_tok, device):
    """Render and encode N training scenes; tokenize both captions of each."""
    t0 = time.time()
    n, chunk, seed_base = args.n_scenes, 1024, 10_000_000
    lat = torch.empty(n, LATENT_CHANNELS, scenes.IMAGE_SIZE // 8, scenes.IMAGE_SIZE // 8, dtype=torch.bfloat16, device=device)
    caps_en, caps_zh = [], []
    for s in range(0, n, chunk):
        sc = scene_batch(seed_base, s, min(chunk, n - s))
        caps_en += [x["en"] for x in sc]
        caps_zh += [x["zh"] for x in sc]
        x = scenes.render(sc, device) * 2 - 1
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            mu = vae.encode(x).latent_dist.mean
        lat[s:s + len(sc)] = mu.to(torch.bfloat16)
    log(f"rendered+encoded {n} scenes in {time.time() - t0:.0f}s")
    flat = lat.float()
    shift = float(flat.mean())
    scale = float(1.0 / flat.std())
    lat = ((flat - shift) * scale).to(torch.bfloat16)
    del flat
    caps = caps_en + caps_zh
    c_ids = clip_tok(caps, padding="max_length", max_length=CLIP_LEN, truncation=True, return_tensors="np")["input_ids"]
    t_ids = t5_tok(caps, padding="max_length", max_length=T5_LEN, truncation=True, return_tensors="np")["input_ids"]
    c_ids = torch.from_numpy(np.stack([c_ids[:n], c_ids[n:]], 1).astype(np.int64)).to(device)
    t_ids = torch.from_numpy(np.stack([t_ids[:n], t_ids[n:]], 1).astype(np.int64)).to(device)
    log(f"dataset ready in {time.time() - t0:.0f}s: shift {shift:.4f} scale {scale:.4f}; "
        f"max T5 length {int((t_ids != 0).sum(-1).max())}, max CLIP length {int((c_ids != 49407).sum(-1).max()) + 1}")
    return lat, c_ids, t_ids, shift, scale


# ------------------------------------------------------------------------------------------ DiT

def train_dit(args, lat, c_ids, t_ids, t5_vocab, device, state=None):
    from diffusers import FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel
    torch.manual_seed(2)
    # eager attention for the text encoders: SDPA's memory-efficient kernel with a learned additive mask
    # (T5 position bias) crashed with an illegal memory access on the H200 during training
    cc, tc = clip_config(), t5_config(t5_vocab)
    cc._attn_implementation = "eager"
    tc._attn_implementation = "eager"
    clip = CLIPTextModel(cc).to(device)
    t5 = T5EncoderModel(tc).to(device)
    dit = FluxTransformer2DModel(**dit_config()).to(device)
    modules = [clip, t5, dit]
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0,
                            fused=device.type == "cuda")
    ema = EMA(modules)
    step0 = 0
    if args.init_model and state is None:
        # continue from an exported model (EMA weights, bf16): no optimizer state, so no warm-up skip
        src = [CLIPTextModel.from_pretrained(os.path.join(args.init_model, "text_encoder"), torch_dtype=torch.float32),
               T5EncoderModel.from_pretrained(os.path.join(args.init_model, "text_encoder_2"), torch_dtype=torch.float32),
               FluxTransformer2DModel.from_pretrained(os.path.join(args.init_model, "transformer"), torch_dtype=torch.float32)]
        for m, s_ in zip(modules, src):
            m.load_state_dict(s_.state_dict())
        ema = EMA(modules)
        step0 = args.init_step
        log(f"CLIP, T5 and DiT initialised from {args.init_model} (counted as step {step0})")
    if state is not None:
        for m, sd in zip(modules, state["models"]):
            m.load_state_dict(sd)
        opt.load_state_dict(state["opt"])
        ema.shadow = [s.to(device) for s in state["ema"]]
        step0 = state["step"]
    # --compile: the step is launch-bound (hundreds of small kernels for ~9M parameters), so fusing
    # with torch.compile is the lever for speed; the uncompiled modules are the ones saved and averaged.
    fwd_clip, fwd_t5, fwd_dit = (torch.compile(m, mode=args.compile_mode) for m in modules) if args.compile else modules
    # On the GPU a non-finite gradient skips the update inside the fused AdamW kernel (its found_inf
    # input, as GradScaler uses it), so no step waits for the host; skips are counted on the device.
    gpu_skip = device.type == "cuda"
    n_skipped = torch.zeros((), device=device)
    n = lat.shape[0]
    hw = lat.shape[-1]
    img_ids = image_ids(hw // 2, hw // 2, device)
    txt_ids = torch.zeros(T5_LEN, 3, device=device)
    shift = math.exp(dev_mu((hw // 2) ** 2))
    log(f"DiT params {sum(p.numel() for p in dit.parameters())/1e6:.2f}M, CLIP {sum(p.numel() for p in clip.parameters())/1e6:.2f}M, "
        f"T5 {sum(p.numel() for p in t5.parameters())/1e6:.2f}M; timestep shift {shift:.3f}")
    gen = torch.Generator(device=device).manual_seed(3 + step0)
    t0, step, hist, run_loss, skipped = time.time(), step0, [], [], 0
    t_steady, steady_from = None, step0 + min(50, max(1, args.dit_steps // 4))
    peak = args.lr if state is None else args.lr * args.resume_lr_factor
    while True:
        el = time.time() - t0
        if el > args.dit_seconds or step - step0 >= args.dit_steps:
            break
        frac = el / args.dit_seconds
        warm = min(1.0, (step - step0 + 1) / args.warmup) if state is None else 1.0
        lr = peak * warm * (1.0 if frac < args.decay_from else max(0.02, (1 - frac) / (1 - args.decay_from)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, n, (args.batch,), device=device, generator=gen)
        lang = torch.randint(0, 2, (args.batch,), device=device, generator=gen)
        x0 = lat[idx].float()
        ci = c_ids[idx, lang]
        ti = t_ids[idx, lang]
        noise = torch.randn(x0.shape, device=device, generator=gen)
        u = torch.sigmoid(torch.randn(args.batch, device=device, generator=gen))
        t = shift * u / (1 + (shift - 1) * u)
        g_val = 1.0 + 4.0 * torch.rand(args.batch, device=device, generator=gen)
        xt = (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1) * noise
        def forward_loss(fc, ft, fd):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                pooled = fc(input_ids=ci).pooler_output
                enc = ft(input_ids=ti).last_hidden_state
                v = fd(hidden_states=pack(xt), encoder_hidden_states=enc, pooled_projections=pooled, timestep=t,
                       img_ids=img_ids, txt_ids=txt_ids, guidance=g_val, return_dict=False)[0]
            return F.mse_loss(v.float(), pack(noise - x0))
        opt.zero_grad(set_to_none=True)
        if args.compile and step == step0:
            try:  # the first call compiles; a compiler failure falls back to eager instead of ending the run
                loss = forward_loss(fwd_clip, fwd_t5, fwd_dit)
                loss.backward()
            except Exception as e:
                log(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); training eager")
                fwd_clip, fwd_t5, fwd_dit = modules
                opt.zero_grad(set_to_none=True)
                loss = forward_loss(fwd_clip, fwd_t5, fwd_dit)
                loss.backward()
        else:
            loss = forward_loss(fwd_clip, fwd_t5, fwd_dit)
            loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if gpu_skip:
            bad = (~torch.isfinite(gn)).float()
            opt.found_inf = bad
            n_skipped += bad
        elif not bool(torch.isfinite(gn)):
            bad = [name for m, name in zip(modules, ("clip", "t5", "dit"))
                   for p in m.parameters() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
            log(f"step {step}: non-finite gradient (loss {float(loss):.4f}) in {sorted(set(bad))}; step skipped")
            skipped += 1
            if skipped > 20:
                raise RuntimeError("too many non-finite gradients")
            step += 1
            continue
        opt.step()
        ema.update(min(args.ema, (1 + step - step0) / (10 + step - step0)))
        run_loss.append(loss.detach())
        if step == steady_from:
            torch.cuda.synchronize() if device.type == "cuda" else None
            t_steady = time.time()
        if step % 200 == 0:
            if gpu_skip and float(n_skipped) > 20:
                raise RuntimeError("too many non-finite gradients")
            l = float(torch.stack(run_loss).mean())
            run_loss = []
            hist.append((step, round(time.time() - t0, 1), round(l, 5)))
            log(f"dit step {step} loss {l:.4f} lr {lr:.2e} gnorm {float(gn):.2f}")
        step += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_end = time.time()
    steady = (t_end - t_steady) / max(1, step - steady_from) * 1000 if t_steady else float("nan")
    skipped += int(float(n_skipped))
    log(f"dit done: {step - step0} steps in {t_end - t0:.0f}s ({(t_end - t0) / max(1, step - step0) * 1000:.1f} ms/step, "
        f"{steady:.1f} ms/step after step {steady_from - step0}); {skipped} steps skipped (non-finite gradient)")
    new_state = dict(models=[{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules],
                     opt=opt.state_dict(), ema=[s.detach() for s in ema.shadow], step=step)
    ema.copy_to()
    return clip, t5, dit, dict(steps=step - step0, total_steps=step, history=hist, steady_ms_per_step=round(steady, 2),
                               skipped=skipped, batch=args.batch), new_state


# ------------------------------------------------------------------------------------------ export

def save_bf16(model, path, **kw):
    model.to(torch.bfloat16).save_pretrained(path, safe_serialization=True, **kw)
    model.float()


def export(args, vae, clip, t5, dit, shift, scale):
    import export_bfl
    out = args.out
    os.makedirs(out, exist_ok=True)
    for sub in ("tokenizer", "tokenizer_2"):
        shutil.copytree(os.path.join(args.tok, sub), os.path.join(out, sub), dirs_exist_ok=True)
    vae.register_to_config(scaling_factor=round(scale, 4), shift_factor=round(shift, 4))
    save_bf16(vae, os.path.join(out, "vae"))
    save_bf16(clip, os.path.join(out, "text_encoder"))
    save_bf16(t5, os.path.join(out, "text_encoder_2"))
    save_bf16(dit, os.path.join(out, "transformer"))
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER_CONFIG, f, indent=2)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(MODEL_INDEX, f, indent=2)
    export_bfl.convert(os.path.join(out, "transformer", "diffusion_pytorch_model.safetensors"),
                       os.path.join(out, "flux-micro.safetensors"))
    log("exported to", out)


# ------------------------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tok", required=True, help="folder with tokenizer/ and tokenizer_2/ (build_tokenizers.py)")
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--work", default=None, help="folder for a resumable checkpoint")
    ap.add_argument("--resume", action="store_true", help="continue DiT training from --work")
    ap.add_argument("--vae-seconds", type=float, default=90)
    ap.add_argument("--vae-init", default=None, help="start the VAE from this AutoencoderKL folder (e.g. the shipped model's vae/)")
    ap.add_argument("--init-model", default=None, help="continue from this exported model folder (VAE kept, text encoders + DiT trained further)")
    ap.add_argument("--init-step", type=int, default=0, help="step count of --init-model (for logs and the random stream)")
    ap.add_argument("--vae-steps", type=int, default=10**9)
    ap.add_argument("--vae-batch", type=int, default=32)
    ap.add_argument("--vae-pool", type=int, default=16384)
    ap.add_argument("--vae-lr", type=float, default=1e-3)
    ap.add_argument("--vae-kl", type=float, default=1e-5)
    ap.add_argument("--n-scenes", type=int, default=200_000)
    ap.add_argument("--dit-seconds", type=float, default=400)
    ap.add_argument("--dit-steps", type=int, default=10**9)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--compile", action="store_true", help="torch.compile CLIP, T5 and the DiT for the training forward")
    ap.add_argument("--compile-mode", default=None, help="torch.compile mode (default, reduce-overhead, max-autotune-no-cudagraphs)")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--resume-lr-factor", type=float, default=0.4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--decay-from", type=float, default=0.6)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--eval-seeds", type=int, default=2)
    ap.add_argument("--eval-limit", type=int, default=None, help="evaluate only this many prompts (local tests)")
    ap.add_argument("--eval-dtypes", default="float32,bfloat16")
    ap.add_argument("--samples", default=None, help="folder for sample PNGs and eval report")
    args = ap.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    # cuDNN's SDPA kernel fails in the DiT backward (torch 2.11, H200: mha_graph.execute not good); use flash
    torch.backends.cuda.enable_cudnn_sdp(False)
    from transformers import AutoTokenizer, CLIPTokenizer
    clip_tok = CLIPTokenizer.from_pretrained(os.path.join(args.tok, "tokenizer"))
    t5_tok = AutoTokenizer.from_pretrained(os.path.join(args.tok, "tokenizer_2"))
    report = dict(args=vars(args), device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu")
    t_start = time.time()

    state = None
    if args.resume:
        ck = torch.load(os.path.join(args.work, "ckpt.pt"), map_location=device, weights_only=False)
        from diffusers import AutoencoderKL
        vae = AutoencoderKL(**vae_config()).to(device)
        vae.load_state_dict(ck["vae"])
        vae.eval()
        lat, c_ids, t_ids, shift, scale = ck["lat"].to(device), ck["c_ids"].to(device), ck["t_ids"].to(device), ck["shift"], ck["scale"]
        state = ck["dit_state"]
        report["vae"] = ck["report"].get("vae")
        report["previous"] = ck["report"]
    elif args.init_model:
        from diffusers import AutoencoderKL
        vae = AutoencoderKL.from_pretrained(os.path.join(args.init_model, "vae"), torch_dtype=torch.float32).to(device).eval()
        vae.register_to_config(scaling_factor=1.0, shift_factor=0.0)
        report["vae"] = dict(init=args.init_model, reconstruction=vae_reconstruction_check(vae, device))
        lat, c_ids, t_ids, shift, scale = build_dataset(args, vae, clip_tok, t5_tok, device)
    else:
        vae, report["vae"] = train_vae(args, device)
        lat, c_ids, t_ids, shift, scale = build_dataset(args, vae, clip_tok, t5_tok, device)
    report["latent_shift"], report["latent_scale"] = shift, scale
    clip, t5, dit, report["dit"], new_state = train_dit(args, lat, c_ids, t_ids, len(t5_tok), device, state)
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        torch.save(dict(vae=vae.state_dict(), lat=lat, c_ids=c_ids, t_ids=t_ids, shift=shift, scale=scale,
                        dit_state=new_state, report=report), os.path.join(args.work, "ckpt.pt"))
        log("checkpoint saved to", args.work)
    export(args, vae, clip, t5, dit, shift, scale)
    report["train_seconds"] = round(time.time() - t_start, 1)
    if args.samples:
        import evaluate
        os.makedirs(args.samples, exist_ok=True)
        report["eval"] = evaluate.run(args.out, args.samples, device, seeds=args.eval_seeds,
                                      dtypes=tuple(args.eval_dtypes.split(",")), limit=args.eval_limit)
        with open(os.path.join(args.samples, "train_report.json"), "w") as f:
            json.dump(report, f, indent=1)
    log(f"all done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
