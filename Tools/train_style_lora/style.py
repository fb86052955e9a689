"""The "dotted paper" style of the default model's scenes, and its measure.

Style: the scene is drawn exactly as `scenes.render` draws it, except that a background the caption does
not call striped, checkered or dotted gets the dotted texture (scenes.TEXTURES[3]: dots of radius
sqrt(7) px on a 12 px grid, 25 levels darker on bright backgrounds, brighter on dark ones). The shapes
are untouched. A caption that names a texture keeps that texture. The caption is the base grammar's,
unchanged (no trigger word). `scenes.py` (Tools/train_default_model) is imported, never edited.

Why this style and not an outline: the shipped VAE (frozen: a LoRA only changes the DiT) was trained on
flat shapes and cannot draw thin dark outlines or patterned fills; its reconstructions drop them
(probe_outline_style.py, README.md). The dotted texture is in its vocabulary (reconstructed at 0.164 of
0.168 texture pixels), so a DiT-only LoRA can produce it.

Measure: `texture_fraction(rgb)`, the fraction of pixels whose Euclidean RGB distance to the analyser's
background colour lies in (TEXTURE_MIN, analyser.FOREGROUND_THRESHOLD] = (25, 48]: visibly off the
background yet not foreground. Exact definition in README.md (the Swift side reimplements it).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train_default_model"))
import analyser  # noqa: E402
import scenes  # noqa: E402

STYLE_TEXTURE = 3       # scenes.TEXTURES index: dotted
TEXTURE_MIN = 25.0      # RGB distance from the background above which a pixel counts as texture


def names_texture(scene):
    """True when the scene's English caption names its background texture (then the style keeps it)."""
    word = scenes.TEXTURES[scene["tex"]][0]
    return bool(word) and f"{word} " in scene["en"]


def style_scene(scene):
    """The styled version of a scene: same objects and captions, dotted background unless the caption
    names a texture."""
    return scene if names_texture(scene) else dict(scene, tex=STYLE_TEXTURE)


def render_style(scene_list, device="cpu"):
    """Float (B, 3, 128, 128) in [0, 1]: `scenes.render` of the styled scenes."""
    return scenes.render([style_scene(s) for s in scene_list], device)


def to_uint8(img):
    """(B, 3, H, W) float in [0, 1] -> list of (H, W, 3) uint8, rounded as evaluate.py does."""
    return list((img.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8))


def texture_fraction(rgb):
    """Fraction of the pixels of an (H, W, 3) uint8 image whose Euclidean RGB distance d to
    analyser.background_colour(rgb) satisfies TEXTURE_MIN < d <= analyser.FOREGROUND_THRESHOLD."""
    img = np.asarray(rgb)
    pix = img.astype(np.float64)
    bg = analyser.background_colour(img)
    d = np.sqrt(((pix - bg) ** 2).sum(axis=2))
    hit = (d > TEXTURE_MIN) & (d <= analyser.FOREGROUND_THRESHOLD)
    return float(hit.sum()) / float(img.shape[0] * img.shape[1])
