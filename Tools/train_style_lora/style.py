"""Styles of the default model's scenes for a style LoRA, and their measures.

Both styles only recombine what the shipped VAE can draw: it was trained on flat palette-coloured
shapes on four plain background colours (white, black, gray, beige) with three textures, and a LoRA
changes only the DiT, so the VAE stays as it is. It cannot draw outlines, patterned fills or new
colours (probe_outline_style.py and README.md: its reconstructions drop outlines and turn pastel red
into purple).

- "night" (the shipped LoRA): every scene on the black background (scenes.BACKGROUNDS[1]), whatever
  background colour the caption names; shapes, colours, positions and a background texture (named or
  not) stay as in the base grammar. Measure: dark_fraction.
- "dotted" (tried first, not shipped: held-out check 79.2%, README.md): a background the caption does
  not call striped, checkered or dotted gets the dotted texture. Measure: texture_fraction.

Captions are the base grammar's, unchanged (English and Chinese, no trigger word). `scenes.py`
(Tools/train_default_model) is imported, never edited. Exact measure definitions in README.md (the
Swift side reimplements them from there).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train_default_model"))
import analyser  # noqa: E402
import scenes  # noqa: E402

NIGHT_BACKGROUND = 1    # scenes.BACKGROUNDS index: black (20, 20, 20)
DOTTED_TEXTURE = 3      # scenes.TEXTURES index: dotted
DARK_MAX = 63           # dark_fraction: a pixel is dark when max(R, G, B) <= 63
TEXTURE_MIN = 25.0      # texture_fraction: RGB distance from the background above which a pixel is texture


def names_texture(scene):
    """True when the scene's English caption names its background texture."""
    word = scenes.TEXTURES[scene["tex"]][0]
    return bool(word) and f"{word} " in scene["en"]


def style_scene(scene, style="night"):
    """The styled version of a scene: same objects and captions."""
    if style == "night":
        return dict(scene, bg=NIGHT_BACKGROUND)
    if style == "dotted":
        return scene if names_texture(scene) else dict(scene, tex=DOTTED_TEXTURE)
    raise ValueError(f"unknown style {style!r} (night, dotted)")


def render_style(scene_list, style="night", device="cpu"):
    """Float (B, 3, 128, 128) in [0, 1]: `scenes.render` of the styled scenes."""
    return scenes.render([style_scene(s, style) for s in scene_list], device)


def to_uint8(img):
    """(B, 3, H, W) float in [0, 1] -> list of (H, W, 3) uint8, rounded as evaluate.py does."""
    return list((img.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8))


def dark_fraction(rgb):
    """Fraction of the pixels of an (H, W, 3) uint8 image with max(R, G, B) <= DARK_MAX."""
    img = np.asarray(rgb)
    return float((img.max(axis=2) <= DARK_MAX).sum()) / float(img.shape[0] * img.shape[1])


def texture_fraction(rgb):
    """Fraction of the pixels of an (H, W, 3) uint8 image whose Euclidean RGB distance d to
    analyser.background_colour(rgb) satisfies TEXTURE_MIN < d <= analyser.FOREGROUND_THRESHOLD."""
    img = np.asarray(rgb)
    pix = img.astype(np.float64)
    bg = analyser.background_colour(img)
    d = np.sqrt(((pix - bg) ** 2).sum(axis=2))
    hit = (d > TEXTURE_MIN) & (d <= analyser.FOREGROUND_THRESHOLD)
    return float(hit.sum()) / float(img.shape[0] * img.shape[1])


MEASURES = {"dark_fraction": dark_fraction, "texture_fraction": texture_fraction}
