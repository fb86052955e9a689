#!/usr/bin/env python3
"""Writes the references of the resizing the hires fix and the A1111 extras use:

  Tests/TensorTests/Fixtures/ops/interpolate.json
      torch.nn.functional.interpolate(x, size=..., mode=..., antialias=...) on random f32 (N, C, H, W)
      for A1111's six latent upscale modes ("Latent" = bilinear, "Latent (antialiased)" = bilinear +
      antialias, bicubic, bicubic + antialias, nearest, nearest-exact), up and down, odd sizes.
  Tests/TensorTests/Fixtures/ops/pillow_nearest.json
      Pillow's Image.resize(size, Image.NEAREST) on random 8-bit RGB pictures (A1111's "Nearest" upscaler).
  Tests/ModelsTests/Fixtures/upscalers.json
      A1111's built-in picture upscalers as its modules/upscaler.py and images.resize_image run them
      (the steps written out below with Pillow: by a factor, and "just resize" to a size).

Needs torch and Pillow, in a venv outside the repository:
  python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch numpy pillow
  /work/venv-torch/bin/python Tools/make_interpolate_fixtures.py
"""
import base64
import json
import os

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TensorTests", "Fixtures", "ops")

MODES = [("bilinear", False), ("bilinear", True), ("bicubic", False), ("bicubic", True),
         ("nearest", False), ("nearest-exact", False)]
SIZES = [((5, 7), (10, 14)), ((5, 7), (13, 9)), ((8, 6), (3, 4)), ((4, 4), (11, 11)), ((9, 5), (9, 12))]


def enc(t):
    a = t.detach().contiguous().to(torch.float32).numpy().astype("<f4")
    return {"shape": list(a.shape), "f32": base64.b64encode(a.tobytes()).decode()}


def main():
    torch.manual_seed(0)
    cases = {}
    for (h, w), (oh, ow) in SIZES:
        x = torch.randn(2, 3, h, w)
        for mode, aa in MODES:
            name = f"{mode}{'_aa' if aa else ''}_{h}x{w}_to_{oh}x{ow}"
            y = F.interpolate(x, size=(oh, ow), mode=mode, antialias=aa)
            cases[name] = {"inputs": {"x": enc(x)}, "output": enc(y), "mode": mode, "antialias": aa,
                           "height": oh, "width": ow}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "interpolate.json"), "w") as f:
        json.dump({"generator": "Tools/make_interpolate_fixtures.py", "torch": torch.__version__, "cases": cases},
                  f, separators=(",", ":"))

    rng = np.random.default_rng(0)
    pictures = []
    for (w, h), (ow, oh) in [((7, 5), (14, 10)), ((7, 5), (9, 13)), ((16, 12), (5, 7)), ((3, 3), (12, 12)),
                             ((33, 17), (100, 51))]:
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        out = np.asarray(Image.fromarray(pixels, "RGB").resize((ow, oh), Image.NEAREST))
        pictures.append({"width": w, "height": h, "pixels": base64.b64encode(pixels.tobytes()).decode(),
                         "out_width": ow, "out_height": oh, "expected": base64.b64encode(out.tobytes()).decode()})
    with open(os.path.join(OUT, "pillow_nearest.json"), "w") as f:
        json.dump({"generator": "Tools/make_interpolate_fixtures.py", "pillow": PIL.__version__, "cases": pictures},
                  f, separators=(",", ":"))


def a1111_upscale(img, scale, resample):
    """modules/upscaler.py Upscaler.upscale with UpscalerLanczos / UpscalerNearest's do_upscale."""
    dest_w = int((img.width * scale) // 8 * 8)
    dest_h = int((img.height * scale) // 8 * 8)
    for i in range(3):
        if img.width >= dest_w and img.height >= dest_h and (i > 0 or scale != 1):
            break
        shape = (img.width, img.height)
        img = img.resize((int(img.width * scale), int(img.height * scale)), resample=resample)
        if shape == (img.width, img.height):
            break
    if img.width != dest_w or img.height != dest_h:
        img = img.resize((int(dest_w), int(dest_h)), resample=Image.LANCZOS)
    return img


def a1111_resize(img, w, h, resample):
    """modules/images.py resize_image(0, img, w, h, upscaler_name) for an RGB picture."""
    scale = max(w / img.width, h / img.height)
    if scale > 1.0:
        img = a1111_upscale(img, scale, resample)
    if img.width != w or img.height != h:
        img = img.resize((w, h), resample=Image.LANCZOS)
    return img


def upscalers():
    rng = np.random.default_rng(1)
    cases = []
    for name, resample in [("Lanczos", Image.LANCZOS), ("Nearest", Image.NEAREST)]:
        for (w, h), how in [((12, 10), ("by", 2.0)), ((12, 10), ("by", 1.5)), ((13, 9), ("by", 2.7)),
                            ((20, 12), ("to", (48, 40))), ((16, 16), ("to", (40, 24))), ((24, 16), ("to", (16, 16)))]:
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            img = Image.fromarray(pixels, "RGB")
            out = a1111_upscale(img, how[1], resample) if how[0] == "by" else a1111_resize(img, *how[1], resample)
            case = {"upscaler": name, "width": w, "height": h, "pixels": base64.b64encode(pixels.tobytes()).decode(),
                    "out_width": out.width, "out_height": out.height,
                    "expected": base64.b64encode(np.asarray(out).tobytes()).decode()}
            if how[0] == "by":
                case["scale"] = how[1]
            else:
                case["to"] = list(how[1])
            cases.append(case)
    path = os.path.join(os.path.dirname(OUT), "..", "..", "ModelsTests", "Fixtures", "upscalers.json")
    with open(path, "w") as f:
        json.dump({"generator": "Tools/make_interpolate_fixtures.py", "pillow": PIL.__version__, "cases": cases}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
    upscalers()
