"""Deterministic image analyser (no neural network) for the default-model quality check.

For an RGB image (H, W, 3 uint8) it finds the dominant foreground object and reports its colour,
shape class and position in the 3x3 grid of scenes.py. The rules are documented in ANALYSER.md;
they are deliberately simple so that the Swift test suite can port them line by line.
"""
from collections import deque

import numpy as np

import scenes

FOREGROUND_THRESHOLD = 48.0  # RGB Euclidean distance from the background colour (0..441)
MIN_PIXELS = 20
SQUARE_FILL = 0.90
CIRCLE_TOP = 0.43
TRIANGLE_BOTTOM = 0.62


def background_colour(img):
    """Per-channel median of the 2-pixel frame around the image."""
    frame = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3),
                            img[2:-2, :2].reshape(-1, 3), img[2:-2, -2:].reshape(-1, 3)], axis=0)
    return np.median(frame.astype(np.float64), axis=0)


def largest_component(mask):
    """Pixels (ys, xs) of the largest 4-connected component of `mask`, scanning in row-major order;
    ties keep the component found first."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    best = ([], [])
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or seen[y0, x0]:
                continue
            ys, xs = [], []
            queue = deque([(y0, x0)])
            seen[y0, x0] = True
            while queue:
                y, x = queue.popleft()
                ys.append(y)
                xs.append(x)
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
            if len(ys) > len(best[0]):
                best = (ys, xs)
    return np.array(best[0], dtype=np.int64), np.array(best[1], dtype=np.int64)


def band_coverage(comp, y_lo, y_hi, width):
    """Mean over rows y_lo..y_hi (inclusive) of (component pixels in the row) / bbox width."""
    rows = comp[y_lo:y_hi + 1]
    return float(rows.sum(axis=1).mean()) / width


def analyse(img):
    """Returns dict(colour, shape, position, features) with indices into scenes.COLOURS/SHAPES/POSITIONS
    (None where no object was found)."""
    img = np.asarray(img)
    h, w, _ = img.shape
    pix = img.astype(np.float64)
    bg = background_colour(img)
    dist = np.sqrt(((pix - bg) ** 2).sum(axis=2))
    mask = dist > FOREGROUND_THRESHOLD
    ys, xs = largest_component(mask)
    if len(ys) < MIN_PIXELS:
        return dict(colour=None, shape=None, position=None, features=dict(pixels=int(len(ys))))
    comp = np.zeros((h, w), dtype=bool)
    comp[ys, xs] = True
    # colour: mean of interior pixels (all four neighbours in the component), nearest palette colour
    inner = comp.copy()
    inner[1:, :] &= comp[:-1, :]
    inner[:-1, :] &= comp[1:, :]
    inner[:, 1:] &= comp[:, :-1]
    inner[:, :-1] &= comp[:, 1:]
    inner[0, :] = inner[-1, :] = False
    inner[:, 0] = inner[:, -1] = False
    sel = inner if inner.any() else comp
    mean = pix[sel].mean(axis=0)
    palette = np.array([c[2] for c in scenes.COLOURS], dtype=np.float64)
    colour = int(np.argmin(((palette - mean) ** 2).sum(axis=1)))
    # position: centroid of the component in thirds of the image
    cx = (xs.mean() + 0.5) / w
    cy = (ys.mean() + 0.5) / h
    col = 0 if cx < 1 / 3 else (1 if cx < 2 / 3 else 2)
    row = 0 if cy < 1 / 3 else (1 if cy < 2 / 3 else 2)
    position = row * 3 + col
    # shape: bounding-box fill, coverage of a band near the top and near the bottom of the box
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    bh, bw = y1 - y0 + 1, x1 - x0 + 1
    fill = len(ys) / float(bh * bw)
    top = band_coverage(comp[:, x0:x1 + 1], y0 + int(0.10 * bh), y0 + int(0.20 * bh), bw)
    bottom = band_coverage(comp[:, x0:x1 + 1], y0 + int(0.80 * bh), y0 + int(0.90 * bh), bw)
    if fill >= SQUARE_FILL:
        shape = 1
    elif top >= CIRCLE_TOP:
        shape = 0
    elif bottom >= TRIANGLE_BOTTOM:
        shape = 2
    else:
        shape = 3
    return dict(colour=colour, shape=shape, position=position,
                features=dict(pixels=int(len(ys)), fill=fill, top=top, bottom=bottom,
                              cx=cx, cy=cy, mean=[float(v) for v in mean]))


def describe(result):
    if result["colour"] is None:
        return "nothing"
    return (f"{scenes.COLOURS[result['colour']][0]} {scenes.SHAPES[result['shape']][0]} "
            f"{scenes.POSITIONS[result['position']][0]}")
