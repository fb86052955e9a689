#!/usr/bin/env python3
"""Writes PNG fixtures for the Swift PNG tests into Tests/TensorTests/Fixtures/png/ (PIL + diffusers), and
checks PNGs written by the Swift side.

  /work/venv/bin/python Tools/make_png_fixtures.py            # write fixtures
  /work/venv/bin/python Tools/make_png_fixtures.py --check F  # print size, mode, pixels hash and text of F
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TensorTests", "Fixtures", "png")

CHINESE = "提示词: 一只猫"


def pattern(w, h, c, salt):
    y, x = np.mgrid[0:h, 0:w]
    chans = [(x * 37 + y * 11 + k * 71 + salt * 13) % 256 for k in range(c)]
    return np.stack(chans, axis=-1).astype(np.uint8)


def save(img, name, pnginfo=None, **kw):
    path = os.path.join(OUT, name)
    img.save(path, pnginfo=pnginfo, **kw)
    return path


def expected_pixels(img):
    """What a decoder into 8-bit RGB / RGBA must produce (RGBA when the file has alpha or tRNS)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    mode = "RGBA" if has_alpha else "RGB"
    if img.mode == "I;16":
        a = np.array(img, dtype=np.uint16).astype(np.float64)
        g = np.floor(a / 257.0 + 0.5).astype(np.uint8)  # libpng's 16 -> 8 bit scaling (round(v / 257))
        return mode, np.stack([g, g, g], axis=-1).reshape(-1).tolist()
    return mode, np.array(img.convert(mode)).reshape(-1).tolist()


def make_images():
    cases = []

    def add(name, img, text, **kw):
        info = PngImagePlugin.PngInfo()
        for kind, k, v in text:
            if kind == "tEXt":
                info.add_text(k, v)
            elif kind == "zTXt":
                info.add_text(k, v, zip=True)
            elif kind == "iTXt":
                info.add_itxt(k, v, lang="zh", tkey="提示", zip=False)
            elif kind == "iTXt-z":
                info.add_itxt(k, v, zip=True)
        save(img, name, info if text else None, **kw)
        mode, px = expected_pixels(Image.open(os.path.join(OUT, name)))
        cases.append({"file": name, "width": img.width, "height": img.height, "channels": len(mode),
                      "pixels": px, "text": [[k, v] for _, k, v in text]})

    add("rgb_text.png", Image.fromarray(pattern(7, 5, 3, 1), "RGB"),
        [("tEXt", "Title", "Hello, PNG"), ("zTXt", "Comment", "café crème " * 20),
         ("iTXt", "prompt", CHINESE), ("iTXt-z", "workflow", '{"节点": [1, 2, 3]}' * 30)])
    add("rgba.png", Image.fromarray(pattern(4, 6, 4, 2), "RGBA"), [("tEXt", "Software", "PIL")])
    add("gray.png", Image.fromarray(pattern(6, 4, 1, 3)[..., 0], "L"), [])
    add("gray_alpha.png", Image.fromarray(pattern(5, 3, 2, 4), "LA"), [])
    pal = Image.fromarray(pattern(8, 3, 1, 5)[..., 0] % 16, "P")
    pal.putpalette([v for i in range(16) for v in (i * 16, 255 - i * 16, (i * 77) % 256)])
    add("palette.png", pal, [("tEXt", "Kind", "palette")])
    palt = pal.copy()
    palt.info["transparency"] = 3
    add("palette_trns.png", palt, [], transparency=3)
    g16 = Image.fromarray(pattern(5, 4, 1, 6)[..., 0].astype(np.uint16) * 251 + 7)  # mode I;16
    add("gray16.png", g16, [])
    return cases


def make_rounding():
    """diffusers' VaeImageProcessor.postprocess / preprocess on chosen values, f32 and bf16."""
    import torch
    from diffusers.image_processor import VaeImageProcessor

    proc = VaeImageProcessor(vae_scale_factor=8)
    rng = np.random.default_rng(0)
    vals = [-1.0, 1.0, 0.0, -0.5, 0.5, -1.5, 1.5, -1e-8, 1e-8, float(np.float32(1) - np.float32(2 ** -24))]
    # values right at and around the rounding boundaries (k + 0.5) / 255
    for k in range(0, 255, 3):
        b = np.float32(2 * (k + 0.5) / 255 - 1)
        vals += [float(b), float(np.nextafter(b, np.float32(2))), float(np.nextafter(b, np.float32(-2)))]
    n = 3 * 16 * 16
    vals += rng.uniform(-1.1, 1.1, n - len(vals)).tolist()
    x = torch.tensor(np.array(vals[:n], dtype=np.float32)).reshape(1, 3, 16, 16)
    out = {}
    for name, dt in [("f32", torch.float32), ("bf16", torch.bfloat16)]:
        xt = x.to(dt)
        img = proc.postprocess(xt, output_type="pil")[0]
        bits = xt.contiguous().view(torch.int16 if dt == torch.bfloat16 else torch.int32).numpy()
        bits = bits.astype(np.uint16 if dt == torch.bfloat16 else np.uint32).reshape(-1).tolist()
        out[name] = {"shape": [1, 3, 16, 16], "bits": bits, "rgb": np.array(img).reshape(-1).tolist()}
    # preprocess: every byte value -> f32 in [-1, 1]
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    im = Image.fromarray(np.stack([levels, levels[::-1], levels.T], axis=-1), "RGB")
    t = proc.preprocess(im)
    out["preprocess"] = {"rgb": np.array(im).reshape(-1).tolist(), "shape": list(t.shape),
                         "bits": t.contiguous().numpy().astype(np.float32).view(np.uint32).reshape(-1).tolist()}
    return out


def check(path):
    im = Image.open(path)
    im.load()
    print(path, im.size, im.mode, hashlib.sha256(im.tobytes()).hexdigest()[:16])
    for k, v in im.text.items():
        print(f"  text {k!r}: {v!r}")
    chunks = []
    with open(path, "rb") as f:
        data = f.read()
    at = 8
    while at < len(data):
        n = int.from_bytes(data[at:at + 4], "big")
        chunks.append(data[at + 4:at + 8].decode())
        at += 12 + n
    print("  chunks:", " ".join(chunks))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", nargs="*")
    args = ap.parse_args()
    if args.check:
        for p in args.check:
            check(p)
        return
    os.makedirs(OUT, exist_ok=True)
    fx = {"images": make_images(), "rounding": make_rounding()}
    with open(os.path.join(OUT, "png_fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(fx, f, ensure_ascii=False, separators=(",", ":"))
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    sys.exit(main())
