#!/usr/bin/env python3
"""The JPEG fixtures of Tests/TensorTests/JPEGEncodeTests.swift: Pillow's quality-95 JPEG of a fixture
picture (our encoder must give the same pixels), and the infotext made the way AUTOMATIC1111 saves a
JPEG's parameters (modules/images.py: piexif.dump({"Exif": {UserComment: piexif.helper.UserComment.dump(
text, encoding="unicode")}}), then Pillow's save(..., exif=...)), and the reverse check: that piexif reads
the UserComment of a JPEG majicflux wrote.

  /work/venv/bin/pip install piexif pillow
  /work/venv/bin/python Tools/make_exif_fixture.py                 # writes the fixture
  /work/venv/bin/python Tools/make_exif_fixture.py --check out.jpg # prints what A1111 would read
"""
import argparse, io, json, os
import piexif, piexif.helper
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TensorTests", "Fixtures", "images")
TEXT = ("a cat on a 红色 sofa, 🐱 emoji\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 42, Size: 64x48")

ap = argparse.ArgumentParser()
ap.add_argument("--check", default=None)
a = ap.parse_args()
if a.check:
    img = Image.open(a.check)
    exif = piexif.load(img.info["exif"])
    print(img.format, img.size, img.mode)
    print(piexif.helper.UserComment.load(exif["Exif"][piexif.ExifIFD.UserComment]))
else:
    exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(TEXT, encoding="unicode")}})
    pic = Image.new("RGB", (64, 48), (200, 40, 40))
    buf = io.BytesIO()
    pic.save(buf, format="JPEG", quality=95, exif=exif)
    open(os.path.join(OUT, "a1111_infotext.jpg"), "wb").write(buf.getvalue())
    json.dump({"text": TEXT, "piexif": piexif.VERSION}, open(os.path.join(OUT, "a1111_infotext.json"), "w"), ensure_ascii=False, indent=1)
    print("wrote a1111_infotext.jpg", len(buf.getvalue()), "bytes")
    # Pillow's JPEG (libjpeg-turbo, 4:2:0, quality 95: Image.save's defaults but the quality).
    src = Image.open(os.path.join(OUT, "resize_src_rgb.png")).convert("RGB")
    src.save(os.path.join(OUT, "resize_src_rgb.q95.jpg"), format="JPEG", quality=95)
    print("wrote resize_src_rgb.q95.jpg", src.size)
