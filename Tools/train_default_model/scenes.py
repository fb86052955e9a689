"""Procedural captioned scenes for the micro Flux default model.

A scene is a plain or textured background with one object (75%), two objects at named positions
(15%) or a count of 2-3 identical objects (10%). Every scene has an English and a Chinese caption.
Everything is a pure function of a seed (Python `random.Random`), and rendering is a pure function of
the scene parameters (anti-aliased signed-distance shapes, rendered with torch on any device).

The grammar (see GRAMMAR.md next to this file) has 8 colours x 4 shapes x 9 positions = 288
(colour, shape, position) combinations; HELD_OUT lists 24 of them that never appear in training
(neither alone nor as one object of a two-object scene). Evaluation prompts come from HELD_OUT.
"""
import math
import random

import torch

IMAGE_SIZE = 128

# name, Chinese name, RGB
COLOURS = [
    ("red", "红色", (220, 40, 40)),
    ("orange", "橙色", (245, 140, 20)),
    ("yellow", "黄色", (240, 220, 40)),
    ("green", "绿色", (40, 170, 60)),
    ("cyan", "青色", (40, 200, 215)),
    ("blue", "蓝色", (40, 80, 225)),
    ("purple", "紫色", (140, 60, 200)),
    ("pink", "粉色", (250, 130, 200)),
]
# name, plural, Chinese name
SHAPES = [
    ("circle", "circles", "圆形"),
    ("square", "squares", "正方形"),
    ("triangle", "triangles", "三角形"),
    ("star", "stars", "星形"),
]
# English phrase, Chinese phrase, (column, row) in a 3x3 grid
POSITIONS = [
    ("in the top left corner", "左上角", (0, 0)),
    ("at the top", "上方", (1, 0)),
    ("in the top right corner", "右上角", (2, 0)),
    ("on the left", "左边", (0, 1)),
    ("in the center", "中间", (1, 1)),
    ("on the right", "右边", (2, 1)),
    ("in the bottom left corner", "左下角", (0, 2)),
    ("at the bottom", "下方", (1, 2)),
    ("in the bottom right corner", "右下角", (2, 2)),
]
GRID = (0.24, 0.5, 0.76)  # centre coordinates of the grid cells, as a fraction of the image side
JITTER = 0.03
# English, Chinese, radius as a fraction of the image side
SIZES = [("small", "小", 0.10), ("medium", "中等大小的", 0.14), ("large", "大", 0.19)]
BACKGROUNDS = [
    ("white", "白色", (245, 245, 245)),
    ("black", "黑色", (20, 20, 20)),
    ("gray", "灰色", (128, 128, 128)),
    ("beige", "米色", (230, 220, 195)),
]
# English adjective, Chinese word; index 0 = plain
TEXTURES = [("", ""), ("striped", "条纹"), ("checkered", "格子"), ("dotted", "圆点")]
COUNTS = [(2, "two", "两"), (3, "three", "三")]

ALL_COMBOS = [(c, s, p) for c in range(len(COLOURS)) for s in range(len(SHAPES)) for p in range(len(POSITIONS))]


def _held_out():
    rng = random.Random(20251117)
    combos = rng.sample(ALL_COMBOS, 24)
    return sorted(combos)


HELD_OUT = _held_out()
HELD_OUT_SET = set(HELD_OUT)


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def _bg_phrase_en(bg, tex):
    t = TEXTURES[tex][0]
    return f"{t + ' ' if t else ''}{BACKGROUNDS[bg][0]} background"


def _bg_phrase_zh(bg, tex):
    return f"{BACKGROUNDS[bg][1]}{TEXTURES[tex][1]}背景"


def _obj_en(c, s, size_word):
    words = ([size_word] if size_word else []) + [COLOURS[c][0], SHAPES[s][0]]
    return f"{article(words[0])} {' '.join(words)}"


def _obj_zh(c, s, size_word):
    return f"一个{size_word}{COLOURS[c][1]}的{SHAPES[s][2]}"


def caption_single(c, s, p, bg, tex, size, say_size, say_bg, template):
    """English and Chinese caption of a one-object scene. `template` in 0..2 picks the word order."""
    en_obj = _obj_en(c, s, SIZES[size][0] if say_size else "")
    zh_obj = _obj_zh(c, s, SIZES[size][1] if say_size else "")
    pos_en, pos_zh = POSITIONS[p][0], POSITIONS[p][1]
    bg_en, bg_zh = _bg_phrase_en(bg, tex), _bg_phrase_zh(bg, tex)
    if template == 0:
        en = f"{en_obj} {pos_en}" + (f" on a {bg_en}" if say_bg else "")
        zh = (f"{bg_zh}，" if say_bg else "") + f"{pos_zh}有{zh_obj}"
    elif template == 1:
        en = (f"a {bg_en} with " if say_bg else "") + f"{en_obj} {pos_en}"
        zh = f"{zh_obj}在{pos_zh}" + (f"，{bg_zh}" if say_bg else "")
    else:
        en = f"{pos_en}, {en_obj}" + (f", {bg_en}" if say_bg else "")
        zh = f"{pos_zh}：{zh_obj}" + (f"，{bg_zh}" if say_bg else "")
    return en, zh


def eval_prompt(c, s, p, bg):
    """The evaluation prompt for a held-out combination (plain background, no size word)."""
    return caption_single(c, s, p, bg, 0, 1, False, True, 0)


def _place(rng, p, radius):
    col, row = POSITIONS[p][2]
    cx = GRID[col] + rng.uniform(-JITTER, JITTER)
    cy = GRID[row] + rng.uniform(-JITTER, JITTER)
    return cx, cy


def sample_scene(seed, holdout=True):
    """One scene from a seed. Returns dict(bg, tex, objects=[(colour, shape, cx, cy, radius)], en, zh)."""
    rng = random.Random(seed)
    bg = rng.randrange(len(BACKGROUNDS))
    tex = 0 if rng.random() < 0.6 else rng.randrange(1, len(TEXTURES))
    say_bg = rng.random() < 0.7
    kind = rng.random()
    objects = []
    if kind < 0.75:
        while True:
            c, s, p = rng.choice(ALL_COMBOS)
            if not (holdout and (c, s, p) in HELD_OUT_SET):
                break
        size = rng.randrange(len(SIZES))
        say_size = rng.random() < 0.5
        r = SIZES[size][2] * rng.uniform(0.92, 1.08)
        cx, cy = _place(rng, p, r)
        objects.append((c, s, cx, cy, r))
        en, zh = caption_single(c, s, p, bg, tex, size, say_size, say_bg, rng.randrange(3))
    elif kind < 0.9:
        # two objects at positions far apart (differ by two grid steps in x or y)
        while True:
            a = rng.choice(ALL_COMBOS)
            b = rng.choice(ALL_COMBOS)
            pa, pb = POSITIONS[a[2]][2], POSITIONS[b[2]][2]
            if max(abs(pa[0] - pb[0]), abs(pa[1] - pb[1])) < 2:
                continue
            if holdout and (a in HELD_OUT_SET or b in HELD_OUT_SET):
                continue
            break
        parts_en, parts_zh = [], []
        for (c, s, p) in (a, b):
            r = rng.choice(SIZES[:2])[2] * rng.uniform(0.92, 1.08)
            cx, cy = _place(rng, p, r)
            objects.append((c, s, cx, cy, r))
            parts_en.append(f"{_obj_en(c, s, '')} {POSITIONS[p][0]}")
            parts_zh.append(f"{POSITIONS[p][1]}有{_obj_zh(c, s, '')}")
        en = " and ".join(parts_en) + (f" on a {_bg_phrase_en(bg, tex)}" if say_bg else "")
        zh = (f"{_bg_phrase_zh(bg, tex)}，" if say_bg else "") + "，".join(parts_zh)
    else:
        n, n_en, n_zh = rng.choice(COUNTS)
        c = rng.randrange(len(COLOURS))
        s = rng.randrange(len(SHAPES))
        cells = rng.sample([(0, 0), (2, 0), (0, 2), (2, 2), (1, 1)], n)
        for col, row in cells:
            r = SIZES[0][2] * rng.uniform(0.92, 1.08)
            objects.append((c, s, GRID[col] + rng.uniform(-JITTER, JITTER), GRID[row] + rng.uniform(-JITTER, JITTER), r))
        en = f"{n_en} {COLOURS[c][0]} {SHAPES[s][1]}" + (f" on a {_bg_phrase_en(bg, tex)}" if say_bg else "")
        zh = (f"{_bg_phrase_zh(bg, tex)}上有" if say_bg else "") + f"{n_zh}个{COLOURS[c][1]}的{SHAPES[s][2]}"
    return dict(bg=bg, tex=tex, objects=objects, en=en, zh=zh)


def scene_for_combo(c, s, p, bg, seed):
    """A ground-truth scene for an evaluation combination (medium size, plain background)."""
    rng = random.Random(seed)
    r = SIZES[1][2]
    cx, cy = _place(rng, p, r)
    en, zh = eval_prompt(c, s, p, bg)
    return dict(bg=bg, tex=0, objects=[(c, s, cx, cy, r)], en=en, zh=zh)


# ---------------------------------------------------------------- rendering

def _convex_halfplanes(vertices):
    """(normal_x, normal_y, offset) for each edge of a convex polygon, outward normals."""
    n = len(vertices)
    gx = sum(v[0] for v in vertices) / n
    gy = sum(v[1] for v in vertices) / n
    planes = []
    for i in range(n):
        x0, y0 = vertices[i]
        x1, y1 = vertices[(i + 1) % n]
        nx, ny = y1 - y0, -(x1 - x0)
        length = math.hypot(nx, ny)
        nx, ny = nx / length, ny / length
        if nx * (gx - x0) + ny * (gy - y0) > 0:
            nx, ny = -nx, -ny
        planes.append((nx, ny, nx * x0 + ny * y0))
    return planes


TRIANGLE = _convex_halfplanes([(0.0, -1.0), (1.0, 0.8), (-1.0, 0.8)])  # y points down: apex at the top
STAR_OUTER, STAR_INNER = 1.12, 0.48


def _star_edge():
    """Outward unit normal and offset of the star edge from the outer point (angle 0) to the inner one."""
    ox, oy = STAR_OUTER, 0.0
    ix, iy = STAR_INNER * math.cos(math.pi / 5), STAR_INNER * math.sin(math.pi / 5)
    nx, ny = iy - oy, -(ix - ox)
    length = math.hypot(nx, ny)
    nx, ny = nx / length, ny / length
    if nx * ox + ny * oy < 0:
        nx, ny = -nx, -ny
    return nx, ny, nx * ox + ny * oy


STAR_EDGE = _star_edge()


def _poly_sdf(planes, x, y):
    d = None
    for nx, ny, off in planes:
        di = nx * x + ny * y - off
        d = di if d is None else torch.maximum(d, di)
    return d


def shape_sdf(shape, x, y):
    """Signed distance (approximate outside, in radius units) of a unit-radius shape at the origin."""
    if shape == 0:
        return torch.sqrt(x * x + y * y) - 1.0
    if shape == 1:
        return torch.maximum(x.abs(), y.abs()) - 0.85
    if shape == 2:
        return _poly_sdf(TRIANGLE, x, y)
    # star: fold the point into the wedge between an outer point and the next inner point
    wedge = 2 * math.pi / 5
    theta = torch.atan2(y, x) + math.pi / 2  # angle from the upward direction (y points down)
    phi = torch.remainder(theta, wedge)
    phi = torch.minimum(phi, wedge - phi)
    rad = torch.sqrt(x * x + y * y)
    nx, ny, off = STAR_EDGE
    return rad * (nx * torch.cos(phi) + ny * torch.sin(phi)) - off


def render(scenes, device="cpu", size=IMAGE_SIZE):
    """Render scenes to a float tensor (B, 3, size, size) in [0, 1]."""
    B = len(scenes)
    coords = (torch.arange(size, device=device, dtype=torch.float32) + 0.5)
    yy = coords.view(1, size, 1).expand(B, size, size)
    xx = coords.view(1, 1, size).expand(B, size, size)
    bg = torch.tensor([BACKGROUNDS[sc["bg"]][2] for sc in scenes], device=device, dtype=torch.float32) / 255.0
    tex = torch.tensor([sc["tex"] for sc in scenes], device=device)
    img = bg.view(B, 3, 1, 1).expand(B, 3, size, size).clone()
    xi, yi = xx.floor(), yy.floor()
    stripes = (torch.div(xi + yi, 10, rounding_mode="floor") % 2)
    checker = ((torch.div(xi, 16, rounding_mode="floor") + torch.div(yi, 16, rounding_mode="floor")) % 2)
    dx, dy = (xi % 12) - 5.5, (yi % 12) - 5.5
    dots = ((dx * dx + dy * dy) < 7.0).float()
    pattern = torch.zeros(B, size, size, device=device)
    pattern = torch.where((tex == 1).view(B, 1, 1), stripes, pattern)
    pattern = torch.where((tex == 2).view(B, 1, 1), checker, pattern)
    pattern = torch.where((tex == 3).view(B, 1, 1), dots, pattern)
    bright = (bg.mean(dim=1) > 0.5).float().view(B, 1, 1, 1)
    delta = (25.0 / 255.0) * (1.0 - 2.0 * bright)  # darker on bright backgrounds, brighter on dark ones
    img = img + delta * pattern.unsqueeze(1)
    max_objects = max(len(sc["objects"]) for sc in scenes)
    for k in range(max_objects):
        valid = torch.tensor([k < len(sc["objects"]) for sc in scenes], device=device)
        objs = [sc["objects"][k] if k < len(sc["objects"]) else (0, 0, -1.0, -1.0, 0.01) for sc in scenes]
        col = torch.tensor([COLOURS[o[0]][2] for o in objs], device=device, dtype=torch.float32) / 255.0
        shp = torch.tensor([o[1] for o in objs], device=device)
        cx = torch.tensor([o[2] * size for o in objs], device=device).view(B, 1, 1)
        cy = torch.tensor([o[3] * size for o in objs], device=device).view(B, 1, 1)
        r = torch.tensor([o[4] * size for o in objs], device=device).view(B, 1, 1)
        ux, uy = (xx - cx) / r, (yy - cy) / r
        sdf = torch.zeros(B, size, size, device=device)
        for s in range(len(SHAPES)):
            sel = shp == s
            if bool(sel.any()):
                sdf = torch.where(sel.view(B, 1, 1), shape_sdf(s, ux, uy), sdf)
        alpha = (0.5 - sdf * r).clamp(0.0, 1.0) * valid.view(B, 1, 1).float()
        alpha = alpha.unsqueeze(1)
        img = img * (1 - alpha) + col.view(B, 3, 1, 1) * alpha
    return img.clamp(0.0, 1.0)


def all_caption_texts(n=4000, seed=0):
    """Caption corpus for training the SentencePiece model: sampled scenes plus every word form."""
    texts = []
    for i in range(n):
        sc = sample_scene(seed * 1_000_003 + i, holdout=False)
        texts += [sc["en"], sc["zh"]]
    for c, s, p in ALL_COMBOS:
        for bg in range(len(BACKGROUNDS)):
            texts += list(eval_prompt(c, s, p, bg))
    return texts
