#!/usr/bin/env python3
"""CPU inference, ours (Examples/FluxBench, `flux-bench`) vs PyTorch (diffusers / transformers, f32), side by side.

Issue 10's comparison on mid-size models with random weights. Three sub-commands:

    # 1. Write the model folder once (f32 safetensors + configs, FLUX.1-dev layout) and the shared inputs:
    /work/venv/bin/python Tools/bench_cpu_reference.py make --dir /tmp/fluxbench-model

    # 2. Compare (alternating rounds, every measurement in a fresh process of its own):
    swift build -c release --product flux-bench
    /work/venv/bin/python Tools/bench_cpu_reference.py compare --dir /tmp/fluxbench-model \
        --flux-bench .build/release/flux-bench --threads 2 --rounds 2

    # (internal) one PyTorch measurement, printing one JSON line:
    /work/venv/bin/python Tools/bench_cpu_reference.py torch --dir DIR --case dit --threads 2

The model (see `make`): CLIP-L text encoder (hidden 768, 12 layers), a mid-size T5 v1.1 encoder (d_model 1024,
8 layers, 16 heads x 64, d_ff 2816, gated-gelu), a mid-size Flux DiT (hidden 1024 = 8 heads x 128, 4 double +
8 single blocks, joint dim 1024, pooled 768, guidance embedder) and the real FLUX.1 VAE config. Weights are
random (seeded), stored in f32; both sides load the same files.

Cases (inputs in DIR/bench_inputs.safetensors, shared by both sides):
  dit        one DiT forward at 512x512: 1024 image tokens (32x32 patches) + 256 text tokens
  dit-fp8    the same with the DiT's block Linears in float8 e4m3fn (ours only; ratio vs our f32)
  dit-int8   the same with int8 per-channel weights (ours only)
  t5         T5 encode of 256 tokens
  vae        VAE decode of a (1, 16, 64, 64) latent to 512x512
  vae-encode VAE encode (the latent distribution) of a 1024x1024 picture: 0.5 * randn(1, 3, 1024, 1024)
             from a torch CPU generator seeded 0 (ours draws the same values)
  generate   the whole text-to-image call at 512x512 with --steps steps: load + CLIP + T5 + steps + decode
             (diffusers FluxPipeline.from_pretrained + pipe(); ours FluxPipeline(files:).generate, f32)

Each measurement runs in its own process, which reports wall and process CPU time of the best of
--repeats runs after a warm-up (generate: one cold run including loading), and its peak RSS (VmHWM).
Thread counts: OMP/MKL/OPENBLAS_NUM_THREADS = --threads for every child and torch.set_num_threads(--threads);
flux-bench gets --threads too.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures")
CASES = ["dit", "dit-fp8", "dit-int8", "t5", "vae", "vae-encode", "generate"]
OURS_ONLY = {"dit-fp8", "dit-int8"}

PROMPT = "a lighthouse on a cliff at dusk, watercolor"


def peak_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def configs():
    clip = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768,
                eos_token_id=2)
    t5 = dict(d_model=1024, d_kv=64, d_ff=2816, num_layers=8, num_heads=16, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6)
    dit = dict(patch_size=1, in_channels=64, num_layers=4, num_single_layers=8, attention_head_dim=128,
               num_attention_heads=8, joint_attention_dim=1024, pooled_projection_dim=768, guidance_embeds=True,
               axes_dims_rope=[16, 56, 56])
    # FLUX.1-dev's vae/config.json.
    vae = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
               up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
               latent_channels=16, norm_num_groups=32, act_fn="silu", sample_size=1024, scaling_factor=0.3611,
               shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False, force_upcast=True)
    return clip, t5, dit, vae


def randomize(model, scale):
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("scale")) and "bias" not in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.02 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(scale * torch.randn_like(p) / fan_in ** 0.5)
    return model.eval()


def make(args):
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, CLIPTokenizer, T5TokenizerFast
    from diffusers import FluxTransformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
    torch.manual_seed(10)
    root = args.dir
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    cc, tc, fc, vc = configs()
    tok = CLIPTokenizer.from_pretrained(os.path.join(FIXTURES, "clip-tokenizer"))
    tok2 = T5TokenizerFast.from_pretrained(os.path.join(FIXTURES, "t5-tokenizer"))
    tok2.model_max_length = 256
    clip = randomize(CLIPTextModel(CLIPTextConfig(**cc)), 1.0)
    t5 = randomize(T5EncoderModel(T5Config(vocab_size=len(tok2), **tc)), 1.0)
    dit = randomize(FluxTransformer2DModel(**fc), 1.0)
    vae = randomize(AutoencoderKL(**vc), 1.0)
    sched = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
             "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**sched), vae=vae, text_encoder=clip, tokenizer=tok,
                        text_encoder_2=t5, tokenizer_2=tok2, transformer=dit)
    pipe.save_pretrained(root, safe_serialization=True, max_shard_size="20GB")
    # FLUX.1-dev's folders hold the classic tokenizer files (see Tools/make_pipeline_fixture.py).
    tj = os.path.join(root, "tokenizer", "tokenizer.json")
    if os.path.exists(tj):
        os.remove(tj)
    for f in ["vocab.json", "merges.txt"]:
        shutil.copy(os.path.join(FIXTURES, "clip-tokenizer", f), os.path.join(root, "tokenizer", f))
    shutil.copy(os.path.join(FIXTURES, "t5-tokenizer", "spiece.model"), os.path.join(root, "tokenizer_2", "spiece.model"))
    g = torch.Generator().manual_seed(1)
    inputs = {
        "dit.img": torch.randn(1, 1024, 64, generator=g),
        "dit.txt": torch.randn(1, 256, 1024, generator=g),
        "dit.pooled": torch.randn(1, 768, generator=g),
        "t5.ids": torch.randint(0, len(tok2), (1, 256), generator=g, dtype=torch.int64).to(torch.int32),
        "vae.latents": torch.randn(1, 16, 64, 64, generator=g),
    }
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(root, "bench_inputs.safetensors"))
    n = lambda m: sum(p.numel() for p in m.parameters()) / 1e6
    print(f"wrote {root}: CLIP {n(clip):.0f}M, T5 {n(t5):.0f}M, DiT {n(dit):.0f}M, VAE {n(vae):.0f}M parameters")


def best(fn, repeats):
    fn()
    t = (float("inf"), float("inf"))
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t1, c1 = time.perf_counter(), time.process_time()
        if t1 - t0 < t[0]:
            t = (t1 - t0, c1 - c0)
    return t


def run_torch(args):
    import torch
    from safetensors.torch import load_file
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    root = args.dir
    inp = load_file(os.path.join(root, "bench_inputs.safetensors"))
    res = {"case": args.case, "impl": "torch"}
    c0, t0 = time.process_time(), time.perf_counter()
    if args.case == "dit":
        from diffusers import FluxTransformer2DModel
        m = FluxTransformer2DModel.from_pretrained(os.path.join(root, "transformer"), torch_dtype=torch.float32).eval()
        res["load_s"] = time.perf_counter() - t0
        img, txt, pooled = inp["dit.img"], inp["dit.txt"], inp["dit.pooled"]
        img_ids = torch.zeros(32, 32, 3)
        img_ids[..., 1] = torch.arange(32)[:, None]
        img_ids[..., 2] = torch.arange(32)[None, :]
        img_ids = img_ids.reshape(1024, 3)
        txt_ids = torch.zeros(256, 3)
        out = {}
        def f():
            out["y"] = m(hidden_states=img, encoder_hidden_states=txt, pooled_projections=pooled,
                         timestep=torch.tensor([0.5]), guidance=torch.tensor([3.5]), img_ids=img_ids, txt_ids=txt_ids,
                         return_dict=False)[0]
        res["wall_s"], res["cpu_s"] = best(f, args.repeats)
        y = out["y"]
    elif args.case == "t5":
        from transformers import T5EncoderModel
        m = T5EncoderModel.from_pretrained(os.path.join(root, "text_encoder_2"), torch_dtype=torch.float32).eval()
        res["load_s"] = time.perf_counter() - t0
        ids = inp["t5.ids"].to(torch.int64)
        out = {}
        def f():
            out["y"] = m(input_ids=ids).last_hidden_state
        res["wall_s"], res["cpu_s"] = best(f, args.repeats)
        y = out["y"]
    elif args.case == "vae":
        from diffusers import AutoencoderKL
        m = AutoencoderKL.from_pretrained(os.path.join(root, "vae"), torch_dtype=torch.float32).eval()
        res["load_s"] = time.perf_counter() - t0
        z = inp["vae.latents"]
        sf, sh = m.config.scaling_factor, m.config.shift_factor
        out = {}
        def f():
            out["y"] = m.decode(z / sf + sh).sample
        res["wall_s"], res["cpu_s"] = best(f, args.repeats)
        y = out["y"]
    elif args.case == "vae-encode":
        from diffusers import AutoencoderKL
        m = AutoencoderKL.from_pretrained(os.path.join(root, "vae"), torch_dtype=torch.float32).eval()
        res["load_s"] = time.perf_counter() - t0
        x = 0.5 * torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))
        out = {}
        def f():
            out["y"] = m.encode(x).latent_dist.mean
        res["wall_s"], res["cpu_s"] = best(f, args.repeats)
        y = out["y"]
    elif args.case == "generate":
        from diffusers import FluxPipeline
        pipe = FluxPipeline.from_pretrained(root, torch_dtype=torch.float32)
        res["load_s"] = time.perf_counter() - t0
        img = pipe(prompt=PROMPT, height=512, width=512, num_inference_steps=args.steps, guidance_scale=3.5,
                   max_sequence_length=256, generator=torch.Generator("cpu").manual_seed(42), output_type="np").images[0]
        res["wall_s"], res["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        y = torch.from_numpy(img.copy()) * 255
    else:
        raise SystemExit(f"unknown case {args.case}")
    res["mean_abs"] = float(y.abs().mean())
    res["peak_rss_mib"] = peak_rss_mib()
    res["torch"] = torch.__version__
    print(json.dumps(res))


def child_env(threads):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_child(cmd, threads):
    p = subprocess.run(cmd, capture_output=True, text=True, env=child_env(threads))
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        sys.stderr.write(f"FAILED ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}\n")
        return None
    return json.loads(lines[-1])


def cpu_pressure():
    try:
        return open("/proc/pressure/cpu").readline().strip()
    except OSError:
        return "n/a"


def compare(args):
    cases = args.cases.split(",")
    best_of = {}
    for r in range(args.rounds):
        for case in cases:
            impls = ["ours"] if case in OURS_ONLY else (["ours", "torch"] if r % 2 == 0 else ["torch", "ours"])
            for impl in impls:
                if impl == "ours":
                    cmd = [args.flux_bench, "--dir", args.dir, "--case", case, "--threads", str(args.threads),
                           "--repeats", str(args.repeats), "--steps", str(args.steps)]
                else:
                    cmd = [sys.executable, os.path.abspath(__file__), "torch", "--dir", args.dir, "--case", case,
                           "--threads", str(args.threads), "--repeats", str(args.repeats), "--steps", str(args.steps)]
                res = run_child(cmd, args.threads)
                if res is None:
                    continue
                print(f"round {r} {case:9s} {impl:5s} wall {res['wall_s']:8.3f} s  cpu {res['cpu_s']:8.3f} s  "
                      f"rss {res['peak_rss_mib']:7.0f} MiB  load {res.get('load_s', 0):6.2f} s  "
                      f"mean|y| {res['mean_abs']:.5f}  [{cpu_pressure()}]", flush=True)
                key = (case, impl)
                prev = best_of.get(key)
                if prev is None or res["wall_s"] < prev["wall_s"]:
                    peak = max(res["peak_rss_mib"], prev["peak_rss_mib"]) if prev else res["peak_rss_mib"]
                    best_of[key] = dict(res, peak_rss_mib=peak)
                elif res["peak_rss_mib"] > prev["peak_rss_mib"]:
                    prev["peak_rss_mib"] = res["peak_rss_mib"]
    print()
    print(f"threads {args.threads}, rounds {args.rounds}, repeats {args.repeats}, generate steps {args.steps}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs; cpu pressure now: {cpu_pressure()}")
    print()
    print("| case | ours wall s | torch wall s | wall ratio | ours CPU s | torch CPU s | CPU ratio | ours peak RSS MiB | torch peak RSS MiB | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    f32 = best_of.get(("dit", "ours"))
    for case in cases:
        o, t = best_of.get((case, "ours")), best_of.get((case, "torch"))
        if o is None:
            continue
        if case in OURS_ONLY:
            ref = f32
            extra = f" (vs our f32: wall {o['wall_s'] / ref['wall_s']:.2f}x, CPU {o['cpu_s'] / ref['cpu_s']:.2f}x; " \
                    f"DiT weights {o.get('weight_mib', 0):.0f} MiB vs {ref.get('weight_mib', 0):.0f} MiB)" if ref else ""
            t = best_of.get(("dit", "torch"))
        else:
            extra = ""
        if t is None:
            print(f"| {case} | {o['wall_s']:.3f} | - | - | {o['cpu_s']:.3f} | - | - | {o['peak_rss_mib']:.0f} | - | - |")
            continue
        print(f"| {case}{extra} | {o['wall_s']:.3f} | {t['wall_s']:.3f} | {o['wall_s'] / t['wall_s']:.2f} | "
              f"{o['cpu_s']:.3f} | {t['cpu_s']:.3f} | {o['cpu_s'] / t['cpu_s']:.2f} | {o['peak_rss_mib']:.0f} | "
              f"{t['peak_rss_mib']:.0f} | {o['peak_rss_mib'] / t['peak_rss_mib']:.2f} |")
    print()
    print("json:", json.dumps({f"{c}/{i}": v for (c, i), v in best_of.items()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--dir", required=True)
    for name in ("torch", "compare"):
        p = sub.add_parser(name)
        p.add_argument("--dir", required=True)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--repeats", type=int, default=2)
        p.add_argument("--steps", type=int, default=2, help="denoising steps of the generate case")
        if name == "torch":
            p.add_argument("--case", required=True, choices=[c for c in CASES if c not in OURS_ONLY])
        else:
            p.add_argument("--flux-bench", required=True)
            p.add_argument("--rounds", type=int, default=2)
            p.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    if args.cmd in ("torch", "compare"):
        os.environ.update({k: str(args.threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    {"make": make, "torch": run_torch, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    main()
