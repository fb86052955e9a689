#!/usr/bin/env python3
"""Writes Tests/TensorTests/Fixtures/png/text_bomb.png: a 4x4 PNG (Pillow) with 65 zTXt chunks, each
1 MiB of text that zlib squeezes to about 1 KB: 65 MiB of text in a 70 KB file. PNGTests checks that
reading its text stops at the 64 MiB cap for the whole file (a server's png-info must not be made to
inflate gigabytes from a small upload). Run with Pillow installed:

    python Tools/make_png_text_bomb.py
"""
import os

from PIL import Image, PngImagePlugin

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorTests", "Fixtures", "png", "text_bomb.png")

info = PngImagePlugin.PngInfo()
for i in range(65):
    info.add_text(f"k{i}", "a" * (1 << 20), zip=True)
Image.new("RGB", (4, 4), (200, 30, 30)).save(OUT, pnginfo=info)
print(OUT, os.path.getsize(OUT))
