"""Quality check of the default model: held-out (colour, shape, position) prompts through diffusers'
FluxPipeline (20 steps, guidance 3.5, 128x128, T5 length = tokenizer_2's model_max_length, CPU torch.Generator seeds), scored by the
deterministic analyser (analyser.py, rules in ANALYSER.md).

usage: python evaluate.py MODEL_DIR OUT_DIR [--seeds 2] [--dtype float32|bfloat16]
"""
import argparse
import json
import os

import numpy as np
import torch
from PIL import Image

import analyser
import scenes

STEPS = 20
GUIDANCE = 3.5

# README samples: (prompt, seed)
SAMPLES = [
    ("a red circle on the left on a white background", 1),
    ("黑色背景，右上角有一个黄色的星形", 2),
    ("a large blue square in the bottom right corner on a striped beige background", 3),
    ("three green triangles on a gray background", 4),
]


def eval_prompts(combos, seeds, seed_base):
    """(prompt, seed, combo, lang, background) for each combo x language x seed; the background cycles."""
    out = []
    for ci, (c, s, p) in enumerate(combos):
        for k in range(seeds):
            bg = (ci + k) % len(scenes.BACKGROUNDS)
            en, zh = scenes.eval_prompt(c, s, p, bg)
            for lang, text in (("en", en), ("zh", zh)):
                out.append((text, seed_base + len(out), (c, s, p), lang, bg))
    return out


def generate(pipe, prompts, seeds, batch=48):
    images = []
    t5_len = pipe.tokenizer_2.model_max_length
    for i in range(0, len(prompts), batch):
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds[i:i + batch]]
        res = pipe(prompt=prompts[i:i + batch], height=scenes.IMAGE_SIZE, width=scenes.IMAGE_SIZE,
                   num_inference_steps=STEPS, guidance_scale=GUIDANCE, max_sequence_length=t5_len,
                   generator=gens, output_type="pil")
        images += [np.array(im) for im in res.images]
    return images


def score(items, images):
    rows, tot = [], dict(colour=0, shape=0, position=0, all=0)
    for (text, seed, (c, s, p), lang, bg), im in zip(items, images):
        r = analyser.analyse(im)
        ok = dict(colour=r["colour"] == c, shape=r["shape"] == s, position=r["position"] == p)
        ok["all"] = all(ok.values())
        for k in tot:
            tot[k] += int(ok[k])
        rows.append(dict(prompt=text, seed=seed, lang=lang, want=[c, s, p], got=[r["colour"], r["shape"], r["position"]],
                         seen=analyser.describe(r), ok=ok["all"]))
    n = max(1, len(items))
    pct = {k: round(100.0 * v / n, 1) for k, v in tot.items()}
    return pct, rows


def by_lang(rows):
    out = {}
    for lang in ("en", "zh"):
        sel = [r for r in rows if r["lang"] == lang]
        out[lang] = round(100.0 * sum(r["ok"] for r in sel) / max(1, len(sel)), 1)
    return out


def sheet(images, path, cols=16):
    n = len(images)
    rows = (n + cols - 1) // cols
    h, w, _ = images[0].shape
    canvas = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        canvas[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = im
    Image.fromarray(canvas).save(path)


def run(model_dir, out_dir, device, seeds=2, dtypes=("float32", "bfloat16"), limit=None):
    from diffusers import FluxPipeline
    os.makedirs(out_dir, exist_ok=True)
    report = {}
    held = eval_prompts(scenes.HELD_OUT, seeds, 1000)
    import random
    seen_combos = random.Random(5).sample([x for x in scenes.ALL_COMBOS if x not in scenes.HELD_OUT_SET], len(scenes.HELD_OUT))
    seen = eval_prompts(seen_combos, 1, 5000)
    if limit:
        held, seen = held[:limit], seen[:limit]
    # the analyser on ground-truth renders of the same prompts (sanity check of the analyser itself)
    gt = [scenes.scene_for_combo(c, s, p, bg, seed) for (_, seed, (c, s, p), _, bg) in held]
    gt_img = (scenes.render(gt).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    report["analyser_on_ground_truth"], _ = score(held, list(gt_img))
    for dt in dtypes:
        pipe = FluxPipeline.from_pretrained(model_dir, torch_dtype=getattr(torch, dt)).to(device)
        pipe.set_progress_bar_config(disable=True)
        imgs = generate(pipe, [x[0] for x in held], [x[1] for x in held])
        pct, rows = score(held, imgs)
        report[f"held_out_{dt}"] = dict(percent=pct, by_language=by_lang(rows), n=len(held), rows=rows)
        sheet(imgs, os.path.join(out_dir, f"heldout_{dt}.png"))
        imgs2 = generate(pipe, [x[0] for x in seen], [x[1] for x in seen])
        pct2, rows2 = score(seen, imgs2)
        report[f"seen_{dt}"] = dict(percent=pct2, by_language=by_lang(rows2), n=len(seen))
        print(f"[eval {dt}] held-out {pct} {by_lang(rows)} | seen combos {pct2}", flush=True)
        if dt == dtypes[0]:
            smp = generate(pipe, [p for p, _ in SAMPLES], [s for _, s in SAMPLES])
            for i, ((p, s), im) in enumerate(zip(SAMPLES, smp)):
                Image.fromarray(im).save(os.path.join(out_dir, f"sample{i + 1}.png"))
            report["samples"] = [dict(file=f"sample{i + 1}.png", prompt=p, seed=s, steps=STEPS, guidance=GUIDANCE,
                                      analysed=analyser.describe(analyser.analyse(im)))
                                 for i, ((p, s), im) in enumerate(zip(SAMPLES, smp))]
        del pipe
    with open(os.path.join(out_dir, "eval.json"), "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    return {k: (v["percent"] if isinstance(v, dict) and "percent" in v else v) for k, v in report.items()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--dtype", default="float32,bfloat16")
    a = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(json.dumps(run(a.model_dir, a.out_dir, dev, a.seeds, tuple(a.dtype.split(","))), indent=1, ensure_ascii=False))
