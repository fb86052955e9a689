#!/usr/bin/env python3
"""Writes the references of the resizing the hires fix and the A1111 extras use:

  Tests/TensorTests/Fixtures/ops/interpolate.json
      torch.nn.functional.interpolate(x, size=..., mode=..., antialias=...) on random f32 (N, C, H, W)
      for A1111's six latent upscale modes ("Latent" = bilinear, "Latent (antialiased)" = bilinear +
      antialias, bicubic, bicubic + antialias, nearest, nearest-exact), up and down, odd sizes.
  Tests/TensorTests/Fixtures/ops/pillow_nearest.json
      Pillow's Image.resize(size, Image.NEAREST) on random 8-bit RGB pictures (A1111's "Nearest" upscaler).

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


if __name__ == "__main__":
    main()
