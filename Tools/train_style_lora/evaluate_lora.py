"""Held-out check of the default model with and without a style LoRA, plus the style measure.

The 96 held-out prompts and seeds of Tools/train_default_model/runs/v3/eval.json (evaluate.eval_prompts:
24 held-out triples x 2 backgrounds x EN/ZH, seeds 1000..1095) through diffusers' FluxPipeline exactly as
evaluate.py runs them (f32, 20 steps, guidance 3.5, 128x128, T5 length 32, CPU generator per prompt),
scored by analyser.py, once without the LoRA and once with it at --weight. For every image also the
style measures (style.MEASURES: dark_fraction, texture_fraction). Writes OUT/eval.json and OUT/compare.png (8 prompts: top row without, bottom
row with the LoRA).

--lora takes a diffusers LoRA folder/file (pytorch_lora_weights.safetensors) or a kohya file
(lora_unet_... keys, converted back with kohya.kohya_to_peft).

usage: python evaluate_lora.py --lora Models/default/loras/night.safetensors --out runs/night-v1 [--limit N]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import style  # noqa: E402  (puts Tools/train_default_model on sys.path)
from style import analyser, scenes  # noqa: E402
import evaluate  # noqa: E402
import kohya  # noqa: E402

SHEET_PICK = [0, 13, 26, 39, 50, 63, 76, 89]  # 8 of the 96 prompts: both languages, all 4 backgrounds


def load_lora_state(path, dit):
    """diffusers-format LoRA state dict from a diffusers file/folder or a kohya file."""
    from safetensors.torch import load_file
    if os.path.isdir(path):
        path = os.path.join(path, "pytorch_lora_weights.safetensors")
    sd = load_file(path)
    if any(k.startswith("lora_unet_") for k in sd):
        rows = {n: m.out_features for n, m in dit.named_modules() if isinstance(m, torch.nn.Linear)}
        return kohya.kohya_to_peft(sd, rows), "kohya"
    return sd, "diffusers"


def save_png(rows, path):
    """Stack image rows into one PNG, palette-quantised (256 colours) to keep the file small; the measures
    are computed on the unquantised images."""
    im = Image.fromarray(np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0))
    im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def run_set(pipe, held):
    t0 = time.time()
    imgs = evaluate.generate(pipe, [x[0] for x in held], [x[1] for x in held])
    pct, rows = evaluate.score(held, imgs)
    means = {}
    for name, fn in style.MEASURES.items():
        vals = [fn(im) for im in imgs]
        for r, v in zip(rows, vals):
            r[name] = round(v, 4)
        means[f"{name}_mean"] = round(float(np.mean(vals)), 4)
    return imgs, dict(percent=pct, by_language=evaluate.by_lang(rows), n=len(held), **means,
                      seconds=round(time.time() - t0, 1), rows=rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "Models", "default"))
    ap.add_argument("--lora", required=True)
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--style", default="night", choices=["night", "dotted"], help="for the ground-truth check")
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-base", action="store_true", help="skip the run without the LoRA")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference", default=None,
                    help="another eval.json of the same LoRA (e.g. the PEFT original): compare verdicts and measures")
    ap.add_argument("--eval-name", default="eval.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from diffusers import FluxPipeline
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    os.makedirs(a.out, exist_ok=True)
    held = evaluate.eval_prompts(scenes.HELD_OUT, 2, 1000)[: a.limit]
    report = dict(style=a.style, model=os.path.relpath(os.path.abspath(a.model), os.path.join(HERE, "..", "..")),
                  lora=os.path.basename(os.path.normpath(a.lora)), weight=a.weight,
                  settings=dict(dtype="float32", steps=evaluate.STEPS, guidance=evaluate.GUIDANCE,
                                size=scenes.IMAGE_SIZE, t5_length=32, seeds=[held[0][1], held[-1][1]]))
    gt = [scenes.scene_for_combo(c, s, p, bg, seed) for (_, seed, (c, s, p), _, bg) in held]
    for name, img in (("plain", scenes.render(gt)), (a.style, style.render_style(gt, a.style))):
        ims = style.to_uint8(img)
        pct, _ = evaluate.score(held, ims)
        report[f"ground_truth_{name}"] = dict(analyser=pct, **{f"{m}_mean": round(float(np.mean([fn(i) for i in ims])), 4)
                                                               for m, fn in style.MEASURES.items()})
    pipe = FluxPipeline.from_pretrained(a.model, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    base_imgs = None
    if not a.no_base:
        base_imgs, report["without_lora"] = run_set(pipe, held)
        print("without LoRA", report["without_lora"]["percent"], {m: report["without_lora"][f"{m}_mean"] for m in style.MEASURES}, flush=True)
    sd, fmt = load_lora_state(a.lora, pipe.transformer)
    report["lora_format"] = fmt
    pipe.load_lora_weights(sd, adapter_name="style")
    pipe.set_adapters(["style"], [a.weight])
    lora_imgs, report["with_lora"] = run_set(pipe, held)
    if a.reference:
        with open(a.reference) as f:
            ref = json.load(f)["with_lora"]["rows"]
        mine = report["with_lora"]["rows"]
        report["against_reference"] = dict(
            reference=os.path.basename(os.path.dirname(os.path.abspath(a.reference))) + "/" + os.path.basename(a.reference),
            same_verdicts=sum(x["ok"] == y["ok"] and x["got"] == y["got"] for x, y in zip(mine, ref)), n=len(mine),
            **{f"{m}_max_abs_diff": round(max(abs(x[m] - y[m]) for x, y in zip(mine, ref)), 4) for m in style.MEASURES})
        print("against reference", report["against_reference"], flush=True)
    print(f"with LoRA ({fmt}, weight {a.weight})", report["with_lora"]["percent"],
          {m: report["with_lora"][f"{m}_mean"] for m in style.MEASURES}, flush=True)
    if base_imgs is not None:
        changed = [i for i, (x, y) in enumerate(zip(report["without_lora"]["rows"], report["with_lora"]["rows"]))
                   if x["ok"] != y["ok"]]
        report["verdicts_changed"] = [dict(prompt=held[i][0], seed=held[i][1], without=report["without_lora"]["rows"][i]["seen"],
                                           with_lora=report["with_lora"]["rows"][i]["seen"]) for i in changed]
        pick = [i for i in SHEET_PICK if i < len(held)]
        save_png([[base_imgs[i] for i in pick], [lora_imgs[i] for i in pick]], os.path.join(a.out, "compare.png"))
        report["compare_png"] = dict(file="compare.png", top="without LoRA", bottom=f"with the LoRA at {a.weight}",
                                     prompts=[dict(prompt=held[i][0], seed=held[i][1]) for i in pick])
        # the default model's README samples (evaluate.SAMPLES), same prompts and seeds, without and with
        pipe.disable_lora()
        s0 = evaluate.generate(pipe, [p for p, _ in evaluate.SAMPLES], [s for _, s in evaluate.SAMPLES])
        pipe.enable_lora()
        s1 = evaluate.generate(pipe, [p for p, _ in evaluate.SAMPLES], [s for _, s in evaluate.SAMPLES])
        save_png([s0, s1], os.path.join(a.out, "samples.png"))
        report["samples_png"] = dict(file="samples.png", top="without LoRA", bottom=f"with the LoRA at {a.weight}",
                                     samples=[dict(prompt=p, seed=s, without=analyser.describe(analyser.analyse(x)),
                                                   with_lora=analyser.describe(analyser.analyse(y)),
                                                   **{f"{m}_without": round(fn(x), 4) for m, fn in style.MEASURES.items()},
                                                   **{f"{m}_with": round(fn(y), 4) for m, fn in style.MEASURES.items()})
                                              for (p, s), x, y in zip(evaluate.SAMPLES, s0, s1)])
    with open(os.path.join(a.out, a.eval_name), "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
