#!/usr/bin/env python3
"""Writes the fixtures of the Swift image tests (Tests/TensorTests/ImageFile*Tests.swift, ImageOps*Tests.swift)
into Tests/TensorTests/Fixtures/images/: input pictures, and what Pillow 13 / OpenCV make of them, as
8-bit PNGs, listed in images.json.

  /work/venv/bin/python Tools/make_image_fixtures.py
  /work/venv/bin/python Tools/make_image_fixtures.py --bench-jpeg /tmp/bench.jpg   # a 1024x1024 JPEG for timing

Cases:
  decode   PNG / JPEG files of several kinds -> Image.open(f).convert("RGB" | "RGBA")
  orient   one picture saved with EXIF orientation 1..8 (JPEG APP1, PNG eXIf) -> ImageOps.exif_transpose
  resize   RGB / L / RGBA pictures -> Image.resize((w, h), Image.LANCZOS), up, down, odd sizes
  luma     convert("L")
  blur     L pictures -> filter(ImageFilter.GaussianBlur(r)), r = 0 ... larger than the picture
  canny    RGB pictures -> cv2.Canny(rgb, low, high) (aperture 3, L1)
"""
import argparse
import io
import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps
import PIL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TensorTests", "Fixtures", "images")


def picture(w, h, seed):
    """A photo-like test picture: gradients, shapes with soft and hard edges, texture and noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([
        128 + 100 * np.sin(x / w * 3.1 + seed),
        128 + 90 * np.cos(y / h * 2.3 - seed),
        128 + 80 * np.sin((x + y) / (w + h) * 5.0),
    ], axis=-1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randint(0, w), rng.randint(0, h)
        x1, y1 = x0 + rng.randint(4, max(5, w // 2)), y0 + rng.randint(4, max(5, h // 2))
        col = tuple(int(v) for v in rng.randint(0, 256, 3))
        if rng.rand() < 0.5:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.rectangle([x0, y0, x1, y1], fill=col)
    d.line([0, h - 1, w - 1, 0], fill=(250, 250, 250), width=2)
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    a = np.array(img).astype(np.int16) + rng.randint(-12, 13, (h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def path(name):
    return os.path.join(OUT, name)


def save_png(img, name):
    img.save(path(name), optimize=True)
    return name


def exif_with_orientation(o):
    exif = Image.Exif()
    exif[0x0112] = o
    exif[0x010F] = "MajicFlux fixtures"  # Make, so the orientation is not the only tag
    return exif.tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-jpeg", help="write a 1024x1024 quality-90 JPEG here and exit")
    args = ap.parse_args()
    if args.bench_jpeg:
        picture(1024, 1024, 7).save(args.bench_jpeg, quality=90)
        return

    import cv2
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(path(f))
    cases = {"decode": [], "orient": [], "resize": [], "luma": [], "blur": [], "canny": [], "refused": []}

    # decode: each file and Pillow's 8-bit RGB / RGBA decoding of it.
    src = picture(64, 48, 1)
    rgba = src.copy()
    alpha = np.clip(np.mgrid[0:48, 0:64][1] * 4, 0, 255).astype(np.uint8)
    rgba.putalpha(Image.fromarray(alpha))
    files = {
        "jpeg_420.jpg": lambda p: src.save(p, quality=90),
        "jpeg_444.jpg": lambda p: src.save(p, quality=95, subsampling=0),
        "jpeg_422_odd.jpg": lambda p: src.crop((0, 0, 61, 45)).save(p, quality=80, subsampling=1),
        "jpeg_progressive.jpg": lambda p: src.save(p, quality=85, progressive=True),
        "jpeg_gray.jpg": lambda p: src.convert("L").save(p, quality=90),
        "png_rgb.png": lambda p: src.save(p),
        "png_gray.png": lambda p: src.convert("L").save(p),
        "png_palette.png": lambda p: src.quantize(32).save(p),
        "png_rgba.png": lambda p: rgba.save(p),
        "png_16bit.png": lambda p: Image.fromarray((np.array(src.convert("L")).astype(np.uint16) * 257 + 100)).save(p),
    }
    for name, write in files.items():
        write(path(name))
        im = Image.open(path(name))
        mode = "RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "RGB"
        if im.mode == "I;16" or im.mode == "I":
            # libpng's simplified API reduces 16-bit sRGB samples with rounding; Pillow truncates (>> 8),
            # so the reference here is libpng's rule: round(v * 255 / 65535).
            a = np.array(im).astype(np.float64)
            g = np.floor(a * 255 / 65535 + 0.5).astype(np.uint8)
            exp = Image.fromarray(g).convert("RGB")
        else:
            exp = im.convert(mode)
        cases["decode"].append({"file": name, "expected": save_png(exp, name + ".expected.png")})

    # CMYK JPEG: refused with a clear error.
    src.convert("CMYK").save(path("jpeg_cmyk.jpg"), quality=90)
    cases["refused"].append({"file": "jpeg_cmyk.jpg", "contains": "CMYK"})

    # orient: the same 40x24 picture with each orientation tag.
    opic = picture(40, 24, 2)
    for o in range(1, 9):
        exif = exif_with_orientation(o)
        for ext, kw in (("jpg", {"quality": 92}), ("png", {})):
            name = f"orient_{o}.{ext}"
            opic.save(path(name), exif=exif, **kw)
            im = Image.open(path(name))
            assert im.getexif().get(0x0112) == o
            up = ImageOps.exif_transpose(im).convert("RGB")
            cases["orient"].append({"file": name, "orientation": o, "expected": save_png(up, name + ".expected.png")})

    # resize: Lanczos, RGB / L / RGBA.
    rsrc = picture(61, 47, 3)
    rgba_src = rsrc.copy()
    ay, ax = np.mgrid[0:47, 0:61]
    rgba_src.putalpha(Image.fromarray(((ax * 5 + ay * 3) % 256).astype(np.uint8)))
    sources = {"rgb": save_png(rsrc, "resize_src_rgb.png"),
               "l": save_png(rsrc.convert("L"), "resize_src_l.png"),
               "rgba": save_png(rgba_src, "resize_src_rgba.png")}
    images = {"rgb": rsrc, "l": rsrc.convert("L"), "rgba": rgba_src}
    # Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many pixels
    # as the width: (200, 31), (60, 12), (58, 40), (70, 20), (90, 12) take that path.
    sizes = {"rgb": [(30, 23), (128, 97), (61, 20), (17, 47), (7, 5), (200, 31), (1, 1), (45, 60), (60, 12), (58, 40)],
             "l": [(30, 23), (122, 94), (13, 71), (70, 20)],
             "rgba": [(30, 23), (100, 80), (90, 12)]}
    for kind, szs in sizes.items():
        for (w, h) in szs:
            out = images[kind].resize((w, h), Image.LANCZOS)
            cases["resize"].append({"source": sources[kind], "mode": kind, "width": w, "height": h,
                                    "expected": save_png(out, f"resize_{kind}_{w}x{h}.png")})

    # luma: convert("L") of an RGB and an RGBA picture.
    cases["luma"].append({"source": "png_rgb.png", "expected": save_png(src.convert("L"), "luma_rgb.png")})
    cases["luma"].append({"source": "png_rgba.png", "expected": save_png(rgba.convert("L"), "luma_rgba.png")})

    # blur: GaussianBlur on L pictures, incl. radius 0 and radii larger than the picture.
    bsrc = {"blur_src_l.png": src.convert("L"), "blur_src_small.png": picture(9, 7, 4).convert("L")}
    for name, im in bsrc.items():
        save_png(im, name)
    for name, radii in (("blur_src_l.png", [0, 0.5, 1, 1.7, 2.5, 4, 10, 60]), ("blur_src_small.png", [0, 1, 3, 8, 25])):
        for r in radii:
            out = bsrc[name].filter(ImageFilter.GaussianBlur(r))
            cases["blur"].append({"source": name, "radius": r,
                                  "expected": save_png(out, f"{name[:-4]}_r{r}.png")})

    # canny: cv2.Canny on RGB pictures (channel order as given: R, G, B).
    csrc = {"canny_src_a.png": picture(96, 64, 5), "canny_src_b.png": picture(64, 64, 6),
            "canny_src_c.png": src}
    for name, im in csrc.items():
        if name != "canny_src_c.png":
            save_png(im, name)
    for name, im in csrc.items():
        fname = "png_rgb.png" if name == "canny_src_c.png" else name
        arr = np.array(im)
        for lo, hi in ((50, 150), (100, 200), (20, 60), (150.7, 80.2)):
            e = cv2.Canny(arr, lo, hi)
            cases["canny"].append({"source": fname, "low": lo, "high": hi,
                                   "expected": save_png(Image.fromarray(e), f"canny_{name[10:-4]}_{lo}_{hi}.png")})

    meta = {"pillow": PIL.__version__, "opencv": cv2.__version__,
            "libjpeg_turbo": PIL.features.version("libjpeg_turbo"), **cases}
    with open(path("images.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} files, {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    import PIL.features
    main()
