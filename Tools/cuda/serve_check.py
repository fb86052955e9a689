"""`majicflux serve` on a GPU, driven as a user's browser would, through the HTTP API (issue 24).

  serve_check.py --bin MAJICFLUX --model DIR --out OUT [--runs bf16,fp8,fp8-budget6] [--size 1024 --steps 20]

For each run: starts `majicflux serve --device cuda --precision P [--vram-budget 6]` on a free port,
waits for the model to be `ready`, then through the JSON API:
  1. a warm-up job (seed 1), then two timed jobs (seeds 1 and 2): submit-to-done seconds = warm
     generation time (model loaded, text encoders + steps + VAE decode + PNG);
  2. a job cancelled mid-run (after its third step): must end `cancelled`;
  3. a job after the cancel: must end `done`;
  4. every picture: a PNG of the requested size, not constant, and the two seed-1 pictures identical
     (same job twice on a warm server).
Prints one JSON line per run and `serve check: all passed` / `serve check: FAILED ...`. Only the
standard library (PNG decoded with zlib), so it runs on any GPU machine's python3.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib


def http(port, method, path, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def png_pixels(path):
    """(width, height, bytes of RGB rows) of an 8-bit RGB PNG file or its bytes (filters undone)."""
    raw = path if isinstance(path, bytes) else open(path, "rb").read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(raw):
        n, kind = struct.unpack(">I4s", raw[pos:pos + 8]); chunk = raw[pos + 8:pos + 8 + n]; pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", chunk[:10]); assert (depth, color) == (8, 2), (depth, color)
        elif kind == b"IDAT":
            idat += chunk
    data, stride, out, prev = zlib.decompress(idat), w * 3, bytearray(), bytearray(w * 3)
    for y in range(h):
        f, line = data[y * (stride + 1)], bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0; b = prev[i]; c = prev[i - 3] if i >= 3 else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line; prev = line
    return w, h, bytes(out)


def wait_job(port, jid, timeout=600, until=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        st, body = http(port, "GET", f"/api/jobs/{jid}")
        s = json.loads(body)
        if until and until(s): return s
        if s["status"] in ("done", "failed", "cancelled"): return s
        time.sleep(0.02)
    raise RuntimeError(f"job {jid} did not finish in {timeout}s")


def wait_ready(port, proc, log_path, timeout=900):
    """Waits until `majicflux serve` (process `proc`, output in `log_path`) reports its model `ready`;
    raises when it exits, its model fails, or `timeout` seconds pass. Returns the seconds waited."""
    t0 = time.time()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode} before ready: {open(log_path).read()[-2000:]}")
        try:
            st, body = http(port, "GET", "/api/status", timeout=5)
            model = json.loads(body)["model"]
            if model["state"] == "ready": return time.time() - t0
            if model["state"] == "failed": raise RuntimeError(f"model failed: {model['message']}")
        except (ConnectionError, OSError, urllib.error.URLError):
            pass
        if time.time() - t0 > timeout: raise RuntimeError(f"not ready after {timeout} s")
        time.sleep(0.2)


def run(args, name, extra):
    port, outdir = free_port(), os.path.join(args.out, f"serve-{name}")
    os.makedirs(outdir, exist_ok=True)
    log = open(os.path.join(args.out, f"serve-{name}.log"), "w")
    cmd = [args.bin, "serve", "--model", args.model, "--device", args.device, "--port", str(port), "--output-dir", outdir] + extra
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    res, problems = dict(run=name, args=" ".join(extra)), []
    try:
        res["ready_s"] = round(wait_ready(port, proc, log.name), 1)
        job = lambda seed: dict(prompt="a red circle on the left on a white background", seed=seed, steps=args.steps,
                                width=args.size, height=args.size)
        pictures, times = {}, []
        for i, seed in enumerate([1, 1, 2]):
            t1 = time.time()
            st, body = http(port, "POST", "/api/jobs", job(seed))
            if st != 202: raise RuntimeError(f"submit: {st} {body[:300]}")
            s = wait_job(port, json.loads(body)["id"])
            dt = time.time() - t1
            if s["status"] != "done": problems.append(f"job seed {seed}: {s['status']} {s.get('error')}"); continue
            if i > 0: times.append(dt)
            else: res["first_job_s"] = round(dt, 2)
            w, h, px = png_pixels(os.path.join(outdir, s["image"].split("/")[-1]))
            if (w, h) != (args.size, args.size): problems.append(f"seed {seed}: {w}x{h}")
            if len(set(px[::97])) < 8: problems.append(f"seed {seed}: picture is (nearly) constant")
            pictures.setdefault(seed, []).append(px)
        res["warm_job_s"] = [round(t, 3) for t in times]
        if len(pictures.get(1, [])) == 2 and pictures[1][0] != pictures[1][1]:
            problems.append("the same job twice gave different pictures")
        if 1 in pictures and 2 in pictures and pictures[1][0] == pictures[2][0]:
            problems.append("seeds 1 and 2 gave the same picture")
        # Cancel mid-run.
        st, body = http(port, "POST", "/api/jobs", job(3)); jid = json.loads(body)["id"]
        wait_job(port, jid, until=lambda s: s["status"] == "running" and s["step"] >= 3)
        st, _ = http(port, "POST", f"/api/jobs/{jid}/cancel")
        s = wait_job(port, jid)
        res["cancel"] = f"{st} -> {s['status']} at step {s['step']}/{s['total_steps']}"
        if s["status"] != "cancelled": problems.append(f"cancel: {res['cancel']}")
        st, body = http(port, "POST", "/api/jobs", job(4))
        s = wait_job(port, json.loads(body)["id"])
        if s["status"] != "done": problems.append(f"job after cancel: {s['status']} {s.get('error')}")
        # A step-cached job (First-Block-Cache, issue 21) on the warm server.
        t1 = time.time()
        st, body = http(port, "POST", "/api/jobs", dict(job(1), cache_threshold=0.06))
        s = wait_job(port, json.loads(body)["id"]) if st == 202 else {"status": f"submit {st} {body[:200]}"}
        res["cached_job_s"] = round(time.time() - t1, 3)
        if s["status"] != "done": problems.append(f"cached job: {s['status']} {s.get('error')}")
        # The A1111 API (issue 19): two pictures in one call, seeds 5 and 6, infotext A1111 readers parse.
        t1 = time.time()
        # batch_size 2 is one batch group: the worker makes both in one DiT pass (issue 21), step-cached.
        st, body = http(port, "POST", "/sdapi/v1/txt2img", dict(prompt="a blue square", seed=5, steps=args.steps,
                        width=args.size, height=args.size, batch_size=2, cfg_scale=1, cache_threshold=0.06), timeout=900)
        res["a1111_txt2img"] = f"{st} in {round(time.time() - t1, 2)} s"
        if st != 200: problems.append(f"A1111 txt2img: {st} {body[:300]}")
        else:
            out = json.loads(body)
            info = json.loads(out["info"])
            if len(out["images"]) != 2: problems.append(f"A1111: {len(out['images'])} images")
            for i, b64 in enumerate(out["images"]):
                w, h, px = png_pixels(__import__("base64").b64decode(b64))
                if (w, h) != (args.size, args.size) or len(set(px[::97])) < 8: problems.append(f"A1111 image {i}: {w}x{h}")
            texts = info.get("infotexts", [])
            if len(texts) != 2 or not all("Steps: " in t and "Seed: " in t for t in texts): problems.append(f"A1111 infotexts {texts}")
            if [info.get("all_seeds", [None])[:2]] != [[5, 6]]: problems.append(f"A1111 seeds {info.get('all_seeds')}")
        st, body = http(port, "GET", "/sdapi/v1/progress")
        if st != 200: problems.append(f"A1111 progress: {st}")
        st, body = http(port, "GET", "/api/status")
        res["status_after"] = st
        res["workers"] = json.loads(body).get("workers")
        res["store_files"] = sorted(f for f in os.listdir(outdir) if not f.endswith(".png"))
        if proc.poll() is not None: problems.append("serve died")
    except Exception as e:  # noqa: BLE001 - reported as a failed run
        problems.append(f"{type(e).__name__}: {e}")
    finally:
        proc.terminate()
        try: proc.wait(60)
        except subprocess.TimeoutExpired: proc.kill(); problems.append("serve did not stop within 60 s of SIGTERM")
        log.close()
    res["problems"] = problems
    tail = open(log.name).read().splitlines()[-6:]
    res["log_tail"] = tail
    print(json.dumps(res), flush=True)
    return not problems


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True); ap.add_argument("--model", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--runs", default="bf16,fp8,fp8-budget6"); ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cuda", help="cpu to try this script on a machine without a GPU")
    a = ap.parse_args()
    runs = {"bf16": ["--precision", "bf16"], "fp8": ["--precision", "fp8"],
            "fp8-attn8": ["--precision", "fp8", "--attention", "fp8"], "fp8-attn8-budget6": ["--precision", "fp8", "--attention", "fp8", "--vram-budget", "6"],
            "fp8-budget6": ["--precision", "fp8", "--vram-budget", "6"], "bf16-budget6": ["--precision", "bf16", "--vram-budget", "6"],
            "fp8-gpus0": ["--precision", "fp8", "--gpus", "0"], "q8_0": ["--precision", "q8_0"], "cpu": []}
    ok = [run(a, r, runs[r]) for r in a.runs.split(",")]
    print("serve check: all passed" if all(ok) else f"serve check: FAILED ({sum(not x for x in ok)} of {len(ok)} runs)", flush=True)
    sys.exit(0 if all(ok) else 1)
