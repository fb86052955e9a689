"""`majicflux serve --device cuda` with picture jobs through the HTTP API (issue 18), on the tiny models.

  serve_conditioning_check.py MAJICFLUX FIXTURES_DIR (Tests/ModelsTests/Fixtures)

Three servers in turn: the tiny FLUX.1-dev-style model (img2img and inpainting as base64 JSON, outpainting
as a multipart upload, a control image refused with 400), the tiny Fill DiT (image + mask) and the tiny
Control DiT (a photo with Canny preprocessing). Each job must end `done` with a PNG of the expected size,
its stored input pictures listed in the history entry. Prints `serve conditioning check: all passed` or
`... FAILED` with the problems. Standard library only.
"""
import base64, json, os, subprocess, sys, tempfile, time, urllib.request
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_check import http, free_port, png_pixels, wait_job

binary, fixtures = sys.argv[1], sys.argv[2]
cond = os.path.join(fixtures, "conditioning")
b64 = lambda name: base64.b64encode(open(os.path.join(cond, name), "rb").read()).decode()
problems = []


def serve(extra):
    port, out = free_port(), tempfile.mkdtemp(prefix="serve-cond-")
    log = open(out + ".log", "w")
    p = subprocess.Popen([binary, "serve", "--model", os.path.join(fixtures, "tiny-flux"), "--device", "cuda", "--port", str(port),
                          "--output-dir", out] + extra, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.time()
    while time.time() - t0 < 120:
        if p.poll() is not None: raise RuntimeError(f"serve exited {p.returncode}: {open(log.name).read()[-1500:]}")
        try:
            if json.loads(http(port, "GET", "/api/status", timeout=5)[1])["model"]["state"] == "ready": return p, port, out
        except OSError: pass
        time.sleep(0.2)
    raise RuntimeError("not ready")


def job(port, out, label, body, size, multipart=None):
    t0 = time.time()
    if multipart:
        boundary = "majicfluxcheck"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="request"\r\n\r\n{json.dumps(body)}\r\n'.encode()]
        for name, file in multipart.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file}"\r\nContent-Type: image/png\r\n\r\n'.encode()
                         + open(os.path.join(cond, file), "rb").read() + b"\r\n")
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/jobs", data=data, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Sec-Fetch-Site": "same-origin"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r: st, raw = r.status, r.read()
        except urllib.error.HTTPError as e: st, raw = e.code, e.read()
    else:
        st, raw = http(port, "POST", "/api/jobs", body)
    if size is None:  # expected refusal
        print(f"{label}: HTTP {st} {raw[:160].decode(errors='replace')}")
        if st != 400: problems.append(f"{label}: expected 400, got {st}")
        return
    if st != 202: problems.append(f"{label}: HTTP {st} {raw[:200]}"); return
    s = wait_job(port, json.loads(raw)["id"], timeout=120)
    if s["status"] != "done": problems.append(f"{label}: {s['status']} {s.get('error')}"); return
    w, h, _ = png_pixels(os.path.join(out, os.path.basename(s["image"])))
    print(f"{label}: done in {time.time() - t0:.2f} s, {w}x{h}, parameters.conditioning {json.dumps(s.get('parameters', {}).get('conditioning'))[:160]}")
    if (w, h) != size: problems.append(f"{label}: {w}x{h}, expected {size}")


base = dict(prompt="a red circle", seed=3, steps=4, max_sequence_length=64)
for extra, jobs in [
    ([], [("img2img (base64)", dict(base, image=b64("input.png"), strength=0.6), (64, 64), None),
          ("inpainting (data URL)", dict(base, image="data:image/png;base64," + b64("input.png"), mask=b64("mask.png"), strength=0.8, mask_blur=2), (64, 64), None),
          ("outpainting (multipart)", dict(base, outpaint=[16, 0, 16, 16]), (96, 80), {"image": "input.png"}),
          ("control on FLUX.1-dev (refused)", dict(base, control=b64("control_image.png")), None, None)]),
    (["--dit", os.path.join(cond, "tiny-flux-fill.safetensors")], [("Fill", dict(base, image=b64("input.png"), mask=b64("mask.png")), (64, 64), None)]),
    (["--dit", os.path.join(cond, "tiny-flux-control.safetensors")], [("Canny from a photo", dict(base, control=b64("input.png"), control_preprocess="canny"), (64, 64), None)]),
]:
    p, port, out = serve(extra)
    try:
        for label, body, size, multipart in jobs:
            job(port, out, label, body, size, multipart)
    except Exception as e:
        problems.append(f"{extra}: {e}")
    finally:
        p.terminate(); p.wait(timeout=30)
print("serve conditioning check: " + ("all passed" if not problems else "FAILED: " + "; ".join(problems)))
