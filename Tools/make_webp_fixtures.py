#!/usr/bin/env python3
"""Writes WebP fixtures for the Swift WebP tests into Tests/TensorTests/Fixtures/webp/ (Pillow 13 with
its libwebp 1.6, piexif as AUTOMATIC1111 uses it), and checks WebPs written by the Swift side.

  /work/venv/bin/python Tools/make_webp_fixtures.py            # write fixtures + webp_fixtures.json
  /work/venv/bin/python Tools/make_webp_fixtures.py --check F  # Pillow's view of F: size, mode, EXIF UserComment

webp_fixtures.json holds, per file, the pixels Pillow decodes (hex, RGB or RGBA) and the text of its
EXIF UserComment; the Swift side must decode the same.
"""
import argparse
import json
import os
import sys

import numpy as np
import piexif
import piexif.helper
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_png_fixtures import pattern  # noqa: E402  (the same test pattern as the PNG fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TensorTests", "Fixtures", "webp")
COMMENT = "a red fox in the snow, 提示词\nNegative prompt: blur\nSteps: 20, Sampler: Euler, Seed: 42, Size: 24x16"


def exif_with(comment=None, orientation=None):
    d = {"0th": {}, "Exif": {}}
    if comment is not None:
        d["Exif"][piexif.ExifIFD.UserComment] = piexif.helper.UserComment.dump(comment, encoding="unicode")
    if orientation is not None:
        d["0th"][piexif.ImageIFD.Orientation] = orientation
    return piexif.dump(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", nargs="*")
    args = ap.parse_args()
    if args.check:
        for p in args.check:
            im = Image.open(p)
            exif = im.getexif().get_ifd(0x8769).get(0x9286)
            text = piexif.helper.UserComment.load(exif) if exif else None
            print(p, im.format, im.size, im.mode, "lossless" if "VP8L" in open(p, "rb").read(64).decode("latin-1") else "",
                  "UserComment:", repr(text))
        return
    os.makedirs(OUT, exist_ok=True)
    made = {}

    def add(name, img, **kw):
        img.save(os.path.join(OUT, name), format="WEBP", **kw)
        back = Image.open(os.path.join(OUT, name))
        back.load()
        upright = ImageOps.exif_transpose(back)
        mode = "RGBA" if upright.mode == "RGBA" else "RGB"
        exif = back.getexif().get_ifd(0x8769).get(0x9286)
        made[name] = {"width": upright.width, "height": upright.height, "mode": mode,
                      "pixels": np.array(upright.convert(mode)).tobytes().hex(),
                      "comment": piexif.helper.UserComment.load(exif) if exif else None}

    add("lossless_rgb.webp", Image.fromarray(pattern(13, 7, 3, 1), "RGB"), lossless=True)
    add("lossless_rgba.webp", Image.fromarray(pattern(9, 5, 4, 2), "RGBA"), lossless=True)
    add("lossy_rgb.webp", Image.fromarray(pattern(24, 16, 3, 3), "RGB"), quality=80)
    add("lossy_rgba.webp", Image.fromarray(pattern(24, 16, 4, 4), "RGBA"), quality=80)
    # As AUTOMATIC1111 saves a WebP: piexif's UserComment (UNICODE) through Pillow's exif=.
    add("a1111_comment.webp", Image.fromarray(pattern(24, 16, 3, 5), "RGB"), quality=80, exif=exif_with(COMMENT))
    # A phone-style orientation tag: 6 = turn 90 degrees clockwise to view.
    add("orientation6.webp", Image.fromarray(pattern(10, 6, 3, 6), "RGB"), lossless=True, exif=exif_with(orientation=6))
    frames = [Image.fromarray(pattern(8, 8, 3, k), "RGB") for k in range(2)]
    frames[0].save(os.path.join(OUT, "animated.webp"), format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    with open(os.path.join(OUT, "webp_fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(made, f, ensure_ascii=False, indent=1)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    sys.exit(main())
