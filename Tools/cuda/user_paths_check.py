"""The user paths added while no GPU was lent (sessions 9-11), run on the GPU and checked against the CPU.

  user_paths_check.py --bin MAJICFLUX --model TINY_FLUX_DIR --out OUT [--device cuda]

`generate` on the GPU and on the CPU with the same arguments (f32 weights, so the two should agree to
rounding; bf16 on the GPU against f32 on the CPU for the product's path), pictures compared by PSNR:
  - the hires fix, latent (`--hires-scale 2`) and picture (`--hires-upscaler Lanczos`, another aspect
    ratio through `--hires-size`), each at the final size asked;
  - an img2img batch of 3 (one VAE encode for the batch since session 9);
  - a DiT written by `majicflux quantize` from the diffusers transformer/ (fp8 per channel, int8 and
    int4 block 16: session 10's fix) loaded with `--dit`, in f32, bf16 and fp8 on the GPU (such layers
    stopped the process on CUDA before session 12: Quant's CPU kernel was given device tensors);
  - WebP output (the file's RIFF/WEBP header).
Then `majicflux serve` on the same device through its HTTP API: a console job with `hires`, A1111's
`txt2img` with `enable_hr`, `img2img` with batch_size 2, `extra-single-image` (Lanczos x2) and
`png-info` on a result. Prints one line per check and `user paths: all passed` / `FAILED`.
Only the standard library (PNG decoding from serve_check.py).
"""
import argparse
import base64
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_check import free_port, http, png_pixels, wait_job, wait_ready  # noqa: E402

PROMPT = "a red circle on the left on a white background"


def psnr(a, b):
    if len(a) != len(b): return -1.0
    mse = sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


class Checks:
    def __init__(self): self.failed = []

    def ok(self, name, cond, detail=""):
        print(f"{'ok  ' if cond else 'FAIL'} {name} {detail}", flush=True)
        if not cond: self.failed.append(name)


def generate(args, device, out, extra, tag):
    cmd = [args.bin, "generate", "--model", args.model, "--device", device, "--prompt", PROMPT, "--seed", "7",
           "--steps", "8", "--output", out] + extra
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    with open(os.path.join(args.out, f"gen-{tag}-{device}.log"), "w") as f: f.write(" ".join(cmd) + "\n" + p.stdout + p.stderr)
    times = [l for l in (p.stdout + p.stderr).splitlines() if "times:" in l]
    return p.returncode, round(time.time() - t0, 2), (times[-1].strip() if times else (p.stdout + p.stderr)[-300:])


def compare(args, c, tag, extra, size, files=1, gpu_precision="f32", floor=50.0):
    """Runs one generate on the GPU (gpu_precision) and on the CPU (f32); checks sizes and PSNR."""
    outs = {}
    for dev, prec in ((args.device, gpu_precision), ("cpu", "f32")):
        out = os.path.join(args.out, f"{tag}-{dev}.png")
        rc, dt, times = generate(args, dev, out, extra + ["--precision", prec], tag)
        c.ok(f"{tag} generate on {dev} ({prec})", rc == 0, f"exit {rc}, {dt} s; {times}")
        if rc != 0: return
        paths = [out] if files == 1 else [out[:-4] + f"-seed{7 + i}.png" for i in range(files)]
        paths = [p if os.path.exists(p) else None for p in paths]
        if None in paths:
            listing = sorted(f for f in os.listdir(args.out) if f.startswith(f"{tag}-{dev}"))
            c.ok(f"{tag} {dev}: {files} files", False, str(listing)); return
        outs[dev] = [png_pixels(p) for p in paths]
    for i, (g, r) in enumerate(zip(outs[args.device], outs["cpu"])):
        c.ok(f"{tag} picture {i} size", (g[0], g[1]) == size and (r[0], r[1]) == size, f"{g[:2]} {r[:2]} want {size}")
        db = psnr(g[2], r[2])
        c.ok(f"{tag} picture {i} {args.device} vs cpu", db >= floor, f"PSNR {db:.1f} dB (floor {floor})")
    return outs


def cli_checks(args, c):
    compare(args, c, "hires-latent", ["--width", "64", "--height", "64", "--hires-scale", "2"], (128, 128))
    compare(args, c, "hires-lanczos", ["--width", "64", "--height", "48", "--hires-size", "96x96",
                                       "--hires-upscaler", "Lanczos", "--hires-strength", "0.5"], (96, 96))
    compare(args, c, "hires-bf16", ["--width", "64", "--height", "64", "--hires-scale", "2"], (128, 128),
            gpu_precision="bf16", floor=30.0)
    start = os.path.join(args.out, "hires-latent-cpu.png")
    if os.path.exists(start):
        compare(args, c, "img2img-batch", ["--image", start, "--batch", "3", "--strength", "0.6"], (128, 128), files=3)
    for fmt in ("fp8-e4m3fn:channel", "int8:channel", "int4:block:16"):
        name, scale = fmt.split(":", 1)
        q = os.path.join(args.out, f"dit-{name}.safetensors")
        p = subprocess.run([args.bin, "quantize", os.path.join(args.model, "transformer"), q, "--format", name,
                            "--scale", scale, "--quiet"], capture_output=True, text=True, timeout=120)
        c.ok(f"quantize {fmt}", p.returncode == 0, f"exit {p.returncode}")
        if p.returncode == 0:
            compare(args, c, f"dit-{name}", ["--dit", q, "--width", "64", "--height", "64"], (64, 64))
            # The product's GPU precisions over the same file: dequantized to bf16, or e4m3 per tensor.
            compare(args, c, f"dit-{name}-bf16", ["--dit", q, "--width", "64", "--height", "64"], (64, 64),
                    gpu_precision="bf16", floor=30.0)
            compare(args, c, f"dit-{name}-fp8", ["--dit", q, "--width", "64", "--height", "64"], (64, 64),
                    gpu_precision="fp8", floor=25.0)
    # `quantize --all-linear` text encoders (embedding tables too) given alone, on the GPU.
    for comp, option in (("text_encoder_2", "--text-encoder-2"), ("text_encoder", "--text-encoder")):
        q = os.path.join(args.out, f"{comp}-int8.safetensors")
        p = subprocess.run([args.bin, "quantize", os.path.join(args.model, comp, "model.safetensors"), q, "--format", "int8",
                            "--scale", "channel", "--all-linear", "--quiet"], capture_output=True, text=True, timeout=120)
        c.ok(f"quantize {comp} int8 --all-linear", p.returncode == 0, f"exit {p.returncode}")
        if p.returncode == 0:
            compare(args, c, f"{comp}-int8", [option, q, "--width", "64", "--height", "64"], (64, 64))
    out = os.path.join(args.out, "webp.webp")
    rc, dt, times = generate(args, args.device, out, ["--width", "64", "--height", "64"], "webp")
    head = open(out, "rb").read(12) if os.path.exists(out) else b""
    c.ok("WebP output on the GPU", rc == 0 and head[:4] == b"RIFF" and head[8:12] == b"WEBP", f"exit {rc}, header {head!r}")


def serve_checks(args, c):
    port, outdir = free_port(), os.path.join(args.out, "serve-user")
    os.makedirs(outdir, exist_ok=True)
    log = open(os.path.join(args.out, "serve-user.log"), "w")
    proc = subprocess.Popen([args.bin, "serve", "--model", args.model, "--device", args.device, "--port", str(port),
                             "--output-dir", outdir], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc, log.name, timeout=300)
        st, body = http(port, "POST", "/api/jobs", dict(prompt=PROMPT, seed=3, steps=8, width=64, height=64,
                                                       hires=dict(scale=2, upscaler="Lanczos", strength=0.6)))
        s = wait_job(port, json.loads(body)["id"], timeout=300) if st == 202 else {"status": f"submit {st} {body[:200]}"}
        size = png_pixels(os.path.join(outdir, s["image"].split("/")[-1]))[:2] if s.get("status") == "done" else None
        c.ok("serve: console job with hires", size == (128, 128), f"{s.get('status')} {s.get('error', '')} size {size} "
             f"total_steps {s.get('total_steps')}")
        st, body = http(port, "POST", "/sdapi/v1/txt2img", dict(prompt=PROMPT, seed=3, steps=8, width=64, height=64,
                        enable_hr=True, hr_scale=2, hr_upscaler="Latent", denoising_strength=0.6), timeout=300)
        img = None
        if st == 200:
            out = json.loads(body); img = base64.b64decode(out["images"][0])
            info = json.loads(out["info"])
        c.ok("serve: A1111 txt2img enable_hr", st == 200 and png_pixels(img)[:2] == (128, 128)
             and "Hires upscale: 2" in info["infotexts"][0], f"{st} {body[:200] if st != 200 else info['infotexts'][0][-160:]}")
        if img is None: return
        b64 = base64.b64encode(img).decode()
        st, body = http(port, "POST", "/sdapi/v1/img2img", dict(prompt=PROMPT, seed=4, steps=8, width=128, height=128,
                        init_images=[b64], denoising_strength=0.5, batch_size=2), timeout=300)
        n = len(json.loads(body)["images"]) if st == 200 else 0
        c.ok("serve: A1111 img2img batch_size 2", st == 200 and n == 2, f"{st} {n} images {body[:200] if st != 200 else ''}")
        st, body = http(port, "POST", "/sdapi/v1/extra-single-image", dict(image=b64, upscaling_resize=2, upscaler_1="Lanczos"))
        size = png_pixels(base64.b64decode(json.loads(body)["image"]))[:2] if st == 200 else None
        c.ok("serve: A1111 extra-single-image Lanczos x2", size == (256, 256), f"{st} {size}")
        st, body = http(port, "POST", "/sdapi/v1/png-info", dict(image=b64))
        c.ok("serve: A1111 png-info", st == 200 and "Hires upscale" in json.loads(body).get("info", ""), f"{st} {body[:160]}")
        st, body = http(port, "GET", "/api/status")
        c.ok("serve: alive after the checks", proc.poll() is None and st == 200)
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        c.ok("serve", False, f"{type(e).__name__}: {e}")
    finally:
        proc.terminate()
        try: proc.wait(60)
        except subprocess.TimeoutExpired: proc.kill(); c.ok("serve stops on SIGTERM", False)
        log.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True); ap.add_argument("--model", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda", help="cpu to try the script on a machine without a GPU")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    checks = Checks()
    cli_checks(a, checks)
    serve_checks(a, checks)
    print("user paths: all passed" if not checks.failed else f"user paths: FAILED {checks.failed}", flush=True)
    sys.exit(0 if not checks.failed else 1)
