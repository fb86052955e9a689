"""Probe: can a DiT-only LoRA on the default model draw an outline style? (Answer: no; see README.md.)

For the 96 held-out evaluation scenes it renders candidate styles, runs the analyser on the ground
truth, and on the frozen VAE's reconstruction (encode mean -> decode), which bounds what any DiT LoRA
can produce through that VAE. Candidates: a dark outline around each shape (several widths / inks), a
striped fill inside the shapes, pastel shape colours, and style.py's dotted background and night style. Writes
runs/probe/probe.json and runs/probe/probe.png (rows: ground truth, then the VAE's reconstruction).

usage: python probe_outline_style.py [MODEL_DIR]
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train_default_model"))
import analyser  # noqa: E402
import scenes  # noqa: E402

OUTLINE_WIDTH = 2.0          # pixels, at 128x128
OUTLINE_RGB = (60, 60, 60)
ROUND = False                # True: Euclidean (rounded) offsets; False: mitred like scenes.shape_sdf
DARK_MAX = 100               # a pixel is dark when max(R, G, B) <= DARK_MAX (0..255)


def _polygon(shape):
    """Vertices (unit radius, y down) of the triangle and the star of scenes.shape_sdf; None for the
    circle and the square, whose outside distances are written directly."""
    if shape == 2:
        return [(0.0, -1.0), (1.0, 0.8), (-1.0, 0.8)]
    if shape == 3:
        pts = []
        for k in range(10):
            rad = scenes.STAR_OUTER if k % 2 == 0 else scenes.STAR_INNER
            th = k * math.pi / 5  # angle from the upward direction
            pts.append((rad * math.sin(th), -rad * math.cos(th)))
        return pts
    return None


def outside_distance(shape, x, y):
    """Euclidean distance (radius units) from (x, y) to a unit-radius shape, 0 inside: rounded offsets,
    so outlines get round corners instead of the mitred corners of the signed-distance approximation."""
    if shape == 0:
        return (torch.sqrt(x * x + y * y) - 1.0).clamp(min=0.0)
    if shape == 1:
        qx, qy = (x.abs() - 0.85).clamp(min=0.0), (y.abs() - 0.85).clamp(min=0.0)
        return torch.sqrt(qx * qx + qy * qy)
    pts = _polygon(shape)
    d = None
    for i in range(len(pts)):
        (ax, ay), (bx, by) = pts[i], pts[(i + 1) % len(pts)]
        ex, ey = bx - ax, by - ay
        h = (((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0)
        di = torch.sqrt((x - ax - h * ex) ** 2 + (y - ay - h * ey) ** 2)
        d = di if d is None else torch.minimum(d, di)
    return torch.where(scenes.shape_sdf(shape, x, y) <= 0, torch.zeros_like(d), d)


def render_outline(scene_list, device="cpu", size=scenes.IMAGE_SIZE, width=OUTLINE_WIDTH, ink=OUTLINE_RGB):
    """`scenes.render` with a dark outline around every object; float (B, 3, size, size) in [0, 1].
    The background pass is `scenes.render` of the scenes without objects; then for each object in order:
    outline (shape dilated by `width` px) in OUTLINE_RGB, then the fill, both with coverage
    clamp(0.5 - signed distance in px, 0, 1)."""
    B = len(scene_list)
    bare = [dict(sc, objects=[(0, 0, -1.0, -1.0, 0.01)]) for sc in scene_list]  # one invisible dummy object
    img = scenes.render(bare, device, size)
    coords = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    yy = coords.view(1, size, 1).expand(B, size, size)
    xx = coords.view(1, 1, size).expand(B, size, size)
    line = torch.tensor(ink, device=device, dtype=torch.float32).view(1, 3, 1, 1) / 255.0
    for k in range(max(len(sc["objects"]) for sc in scene_list)):
        valid = torch.tensor([k < len(sc["objects"]) for sc in scene_list], device=device).float().view(B, 1, 1)
        objs = [sc["objects"][k] if k < len(sc["objects"]) else (0, 0, -1.0, -1.0, 0.01) for sc in scene_list]
        col = torch.tensor([scenes.COLOURS[o[0]][2] for o in objs], device=device, dtype=torch.float32) / 255.0
        shp = torch.tensor([o[1] for o in objs], device=device)
        cx = torch.tensor([o[2] * size for o in objs], device=device).view(B, 1, 1)
        cy = torch.tensor([o[3] * size for o in objs], device=device).view(B, 1, 1)
        r = torch.tensor([o[4] * size for o in objs], device=device).view(B, 1, 1)
        ux, uy = (xx - cx) / r, (yy - cy) / r
        sdf = torch.zeros(B, size, size, device=device)
        out = torch.zeros(B, size, size, device=device)
        for s in range(len(scenes.SHAPES)):
            sel = shp == s
            if bool(sel.any()):
                sdf = torch.where(sel.view(B, 1, 1), scenes.shape_sdf(s, ux, uy), sdf)
                out = torch.where(sel.view(B, 1, 1), outside_distance(s, ux, uy), out)
        d = sdf * r  # signed distance in pixels (the fill, exactly as scenes.render)
        do = out * r if ROUND else d  # distance outside, in pixels (the outline)
        a_line = ((0.5 + width - do).clamp(0.0, 1.0) * valid).unsqueeze(1)
        a_fill = ((0.5 - d).clamp(0.0, 1.0) * valid).unsqueeze(1)
        img = img * (1 - a_line) + line * a_line
        img = img * (1 - a_fill) + col.view(B, 3, 1, 1) * a_fill
    return img.clamp(0.0, 1.0)


def outline_fraction(rgb):
    """Fraction of pixels that are dark (max(R,G,B) <= DARK_MAX) and not background (Euclidean RGB
    distance to analyser.background_colour > analyser.FOREGROUND_THRESHOLD). rgb: (H, W, 3) uint8."""
    img = np.asarray(rgb)
    pix = img.astype(np.float64)
    bg = analyser.background_colour(img)
    dist = np.sqrt(((pix - bg) ** 2).sum(axis=2))
    dark = img.max(axis=2) <= DARK_MAX
    return float((dark & (dist > analyser.FOREGROUND_THRESHOLD)).sum()) / float(img.shape[0] * img.shape[1])


def render_striped_fill(scene_list, period=20, delta=30):
    """Shapes filled with diagonal stripes, fill colour +-delta levels (mean colour kept)."""
    plain = scenes.render(scene_list)
    bare = scenes.render([dict(sc, objects=[(0, 0, -1.0, -1.0, 0.01)]) for sc in scene_list])
    inside = ((plain - bare).abs().sum(1, keepdim=True) > 0).float()
    co = torch.arange(scenes.IMAGE_SIZE, dtype=torch.float32)
    yi, xi = co.view(-1, 1), co.view(1, -1)
    sign = (torch.div(xi - yi + 1000, period // 2, rounding_mode="floor") % 2) * 2 - 1
    return (plain + inside * sign * delta / 255.0).clamp(0, 1)


def render_pastel(scene_list, amount=0.35, grey=200):
    """Shapes in pastel colours: each palette colour mixed `amount` toward (grey, grey, grey); every colour
    stays nearest its own palette entry (the analyser reads it right on the ground truth)."""
    saved = list(scenes.COLOURS)
    try:
        scenes.COLOURS[:] = [(n, z, tuple(int(round((1 - amount) * v + amount * grey)) for v in rgb)) for n, z, rgb in saved]
        return scenes.render(scene_list)
    finally:
        scenes.COLOURS[:] = saved


def main():
    import json
    import evaluate
    import style
    from diffusers import AutoencoderKL
    torch.set_num_threads(2)
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Models", "default")
    vae = AutoencoderKL.from_pretrained(os.path.join(model, "vae"), torch_dtype=torch.float32).eval()
    held = evaluate.eval_prompts(scenes.HELD_OUT, 2, 1000)
    gt = [scenes.scene_for_combo(c, s, p, bg, seed) for (_, seed, (c, s, p), _, bg) in held]
    cands = [("plain", lambda: scenes.render(gt))]
    for w, g in ((2.0, 0), (2.0, 60), (3.0, 60), (4.0, 60)):
        cands.append((f"outline {w:g}px ink {g}", lambda w=w, g=g: render_outline(gt, width=w, ink=(g, g, g))))
    cands.append(("striped fill 20px +-30", lambda: render_striped_fill(gt)))
    cands.append(("pastel shapes (35% toward grey 200)", lambda: render_pastel(gt)))
    cands.append(("dotted background (style.py)", lambda: style.render_style(gt, "dotted")))
    cands.append(("night (style.py)", lambda: style.render_style(gt, "night")))
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs", "probe")
    os.makedirs(out_dir, exist_ok=True)
    report, sheet = {}, []
    for name, fn in cands:
        img = fn()
        with torch.no_grad():
            rec = ((vae.decode(vae.encode(img * 2 - 1).latent_dist.mean).sample + 1) / 2).clamp(0, 1)
        g8, r8 = style.to_uint8(img), style.to_uint8(rec)
        pg, _ = evaluate.score(held, g8)
        pr, _ = evaluate.score(held, r8)
        report[name] = dict(analyser_ground_truth=pg["all"], analyser_vae_reconstruction=pr["all"],
                            outline_fraction_ground_truth=round(float(np.mean([outline_fraction(x) for x in g8])), 4),
                            outline_fraction_vae_reconstruction=round(float(np.mean([outline_fraction(x) for x in r8])), 4),
                            texture_fraction_ground_truth=round(float(np.mean([style.texture_fraction(x) for x in g8])), 4),
                            texture_fraction_vae_reconstruction=round(float(np.mean([style.texture_fraction(x) for x in r8])), 4),
                            dark_fraction_ground_truth=round(float(np.mean([style.dark_fraction(x) for x in g8])), 4),
                            dark_fraction_vae_reconstruction=round(float(np.mean([style.dark_fraction(x) for x in r8])), 4))
        print(name, report[name], flush=True)
        if name != "plain":
            pick = [4, 22, 41, 70]  # a few shapes and backgrounds
            sheet.append(([g8[i] for i in pick], [r8[i] for i in pick]))
    rows = [np.concatenate(gs + rs, axis=1) for gs, rs in sheet]
    from PIL import Image
    Image.fromarray(np.concatenate(rows, axis=0)).resize((8 * 64, len(rows) * 64), Image.LANCZOS).save(os.path.join(out_dir, "probe.png"))
    report["_note"] = ("96 held-out scenes; analyser % all three right; probe.png rows: "
                       + ", ".join(n for n, _ in cands[1:]) + "; left 4 = ground truth, right 4 = VAE reconstruction")
    with open(os.path.join(out_dir, "probe.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
