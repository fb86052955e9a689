"""`majicflux serve --lora-dir` on a GPU with full-size LoRAs (issue 17), through the HTTP API.

  serve_lora_check.py --bin MAJICFLUX --model DIR --out OUT [--precision fp8] [--size 1024 --steps 20]

Writes two random kohya LoRAs of rank 16 over every block Linear of a FLUX.1-dev-size DiT (~153 MB
each in bf16) into OUT/loras, starts `majicflux serve --device cuda --lora-dir OUT/loras`, and times
warm jobs submit-to-done: none, none, A, A, B, B, A at weight 0.5, none. A job that switches LoRAs
against the same job with them already attached is the switching cost (reading a new file and
attaching it to the loaded DiT; no base reload). Checks: /api/loras lists both; pictures with a LoRA
differ from without, A from B; the same job twice gives the same picture.
"""
import argparse, json, os, subprocess, sys, time
import torch
from safetensors.torch import save_file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_check import http, free_port, png_pixels, wait_job, wait_ready


def write_lora(path, rank, seed):
    g = torch.Generator().manual_seed(seed)
    d, m = 3072, 12288
    shapes = {}
    for i in range(19):
        for s in ("img", "txt"):
            p = f"double_blocks_{i}_{s}"
            shapes.update({f"{p}_mod_lin": (6 * d, d), f"{p}_attn_qkv": (3 * d, d), f"{p}_attn_proj": (d, d),
                           f"{p}_mlp_0": (m, d), f"{p}_mlp_2": (d, m)})
    for i in range(38):
        p = f"single_blocks_{i}"
        shapes.update({f"{p}_modulation_lin": (3 * d, d), f"{p}_linear1": (3 * d + m, d), f"{p}_linear2": (d, d + m)})
    t = {}
    for name, (o, i) in shapes.items():
        t[f"lora_unet_{name}.lora_down.weight"] = (torch.randn(rank, i, generator=g) / i ** 0.5).to(torch.bfloat16)
        t[f"lora_unet_{name}.lora_up.weight"] = (torch.randn(o, rank, generator=g) * 0.01).to(torch.bfloat16)
        t[f"lora_unet_{name}.alpha"] = torch.tensor(float(rank))
    save_file(t, path, metadata={"modelspec.title": os.path.basename(path), "ss_network_dim": str(rank)})
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True); ap.add_argument("--model", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--precision", default="fp8"); ap.add_argument("--size", type=int, default=1024); ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    loras = os.path.join(a.out, "loras"); os.makedirs(loras, exist_ok=True)
    for name, seed in (("a", 1), ("b", 2)):
        print(f"LoRA {name}: {write_lora(os.path.join(loras, name + '.safetensors'), 16, seed) / 1e6:.1f} MB", flush=True)
    port, outdir = free_port(), os.path.join(a.out, "serve-lora")
    os.makedirs(outdir, exist_ok=True)
    log = open(os.path.join(a.out, "serve-lora.log"), "w")
    proc = subprocess.Popen([a.bin, "serve", "--model", a.model, "--device", "cuda", "--precision", a.precision, "--port", str(port),
                             "--output-dir", outdir, "--lora-dir", loras], stdout=log, stderr=subprocess.STDOUT)
    problems, res = [], {"precision": a.precision}
    try:
        res["ready_s"] = round(wait_ready(port, proc, log.name), 1)
        st, body = http(port, "GET", "/api/loras")
        res["listing"] = json.loads(body) if st == 200 else f"{st} {body[:200]}"
        seq = [("none", []), ("none", []), ("a", [("a", 1.0)]), ("a", [("a", 1.0)]), ("b", [("b", 1.0)]), ("b", [("b", 1.0)]),
               ("a0.5", [("a", 0.5)]), ("none", [])]
        times, pics = [], {}
        for label, ls in seq:
            job = dict(prompt="a red circle on the left on a white background", seed=1, steps=a.steps, width=a.size, height=a.size,
                       loras=[{"name": n, "weight": w} for n, w in ls])
            t1 = time.time()
            st, body = http(port, "POST", "/api/jobs", job)
            if st != 202: raise RuntimeError(f"submit {label}: {st} {body[:300]}")
            s = wait_job(port, json.loads(body)["id"])
            dt = time.time() - t1
            if s["status"] != "done": problems.append(f"{label}: {s['status']} {s.get('error')}"); continue
            times.append((label, round(dt, 3)))
            pics.setdefault(label, []).append(png_pixels(os.path.join(outdir, s["image"].split("/")[-1]))[2])
        res["jobs_s"] = times
        for label, ps in pics.items():
            if len(ps) > 1 and ps[0] != ps[1]: problems.append(f"{label} twice gave different pictures")
        for x, y in (("none", "a"), ("a", "b"), ("a", "a0.5")):
            if x in pics and y in pics and pics[x][0] == pics[y][0]: problems.append(f"{x} and {y} gave the same picture")
        t = dict(times)
        d = {}
        for label, dt in times: d.setdefault(label, []).append(dt)
        if len(d.get("a", [])) == 2 and len(d.get("b", [])) == 2 and len(d.get("none", [])) >= 2:
            res["switch_to_new_lora_s"] = round(d["b"][0] - d["b"][1], 3)
            res["first_lora_s"] = round(d["a"][0] - d["a"][1], 3)
            res["lora_step_overhead_s"] = round(d["a"][1] - d["none"][1], 3)
    except Exception as e:  # noqa: BLE001
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        proc.terminate()
        try: proc.wait(60)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()
    res["problems"] = problems
    res["log_tail"] = open(log.name).read().splitlines()[-8:]
    print(json.dumps(res), flush=True)
    print("serve lora check: all passed" if not problems else "serve lora check: FAILED", flush=True)
    sys.exit(0 if not problems else 1)


if __name__ == "__main__":
    main()
