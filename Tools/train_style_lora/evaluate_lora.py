"""Held-out check of the default model with and without a style LoRA, plus the style measure.

The 96 held-out prompts and seeds of Tools/train_default_model/runs/v3/eval.json (evaluate.eval_prompts:
24 held-out triples x 2 backgrounds x EN/ZH, seeds 1000..1095) through diffusers' FluxPipeline exactly as
evaluate.py runs them (f32, 20 steps, guidance 3.5, 128x128, T5 length 32, CPU generator per prompt),
scored by analyser.py, once without the LoRA and once with it at --weight. For every image also
style.texture_fraction. Writes OUT/eval.json and OUT/compare.png (8 prompts: top row without, bottom
row with the LoRA).

--lora takes a diffusers LoRA folder/file (pytorch_lora_weights.safetensors) or a kohya file
(lora_unet_... keys, converted back with kohya.kohya_to_peft).

usage: python evaluate_lora.py --lora Models/default/loras/dotted.safetensors --out runs/v1 [--limit N]
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


def run_set(pipe, held):
    t0 = time.time()
    imgs = evaluate.generate(pipe, [x[0] for x in held], [x[1] for x in held])
    pct, rows = evaluate.score(held, imgs)
    tf = [style.texture_fraction(im) for im in imgs]
    for r, v in zip(rows, tf):
        r["texture_fraction"] = round(v, 4)
    return imgs, dict(percent=pct, by_language=evaluate.by_lang(rows), n=len(held),
                      texture_fraction_mean=round(float(np.mean(tf)), 4),
                      seconds=round(time.time() - t0, 1), rows=rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "Models", "default"))
    ap.add_argument("--lora", required=True)
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-base", action="store_true", help="skip the run without the LoRA")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from diffusers import FluxPipeline
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    os.makedirs(a.out, exist_ok=True)
    held = evaluate.eval_prompts(scenes.HELD_OUT, 2, 1000)[: a.limit]
    report = dict(model=os.path.relpath(os.path.abspath(a.model), os.path.join(HERE, "..", "..")),
                  lora=os.path.basename(os.path.normpath(a.lora)), weight=a.weight,
                  settings=dict(dtype="float32", steps=evaluate.STEPS, guidance=evaluate.GUIDANCE,
                                size=scenes.IMAGE_SIZE, t5_length=32, seeds=[held[0][1], held[-1][1]]))
    gt = [scenes.scene_for_combo(c, s, p, bg, seed) for (_, seed, (c, s, p), _, bg) in held]
    for name, img in (("plain", scenes.render(gt)), ("style", style.render_style(gt))):
        ims = style.to_uint8(img)
        pct, _ = evaluate.score(held, ims)
        report[f"ground_truth_{name}"] = dict(analyser=pct, texture_fraction_mean=round(float(np.mean(
            [style.texture_fraction(i) for i in ims])), 4))
    pipe = FluxPipeline.from_pretrained(a.model, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    base_imgs = None
    if not a.no_base:
        base_imgs, report["without_lora"] = run_set(pipe, held)
        print("without LoRA", report["without_lora"]["percent"], report["without_lora"]["texture_fraction_mean"], flush=True)
    sd, fmt = load_lora_state(a.lora, pipe.transformer)
    report["lora_format"] = fmt
    pipe.load_lora_weights(sd, adapter_name="style")
    pipe.set_adapters(["style"], [a.weight])
    lora_imgs, report["with_lora"] = run_set(pipe, held)
    print(f"with LoRA ({fmt}, weight {a.weight})", report["with_lora"]["percent"],
          report["with_lora"]["texture_fraction_mean"], flush=True)
    if base_imgs is not None:
        changed = [i for i, (x, y) in enumerate(zip(report["without_lora"]["rows"], report["with_lora"]["rows"]))
                   if x["ok"] != y["ok"]]
        report["verdicts_changed"] = [dict(prompt=held[i][0], seed=held[i][1], without=report["without_lora"]["rows"][i]["seen"],
                                           with_lora=report["with_lora"]["rows"][i]["seen"]) for i in changed]
        pick = [i for i in SHEET_PICK if i < len(held)]
        top = np.concatenate([base_imgs[i] for i in pick], axis=1)
        bottom = np.concatenate([lora_imgs[i] for i in pick], axis=1)
        Image.fromarray(np.concatenate([top, bottom], axis=0)).save(os.path.join(a.out, "compare.png"), optimize=True)
        report["compare_png"] = dict(file="compare.png", top="without LoRA", bottom=f"with the LoRA at {a.weight}",
                                     prompts=[dict(prompt=held[i][0], seed=held[i][1]) for i in pick])
    with open(os.path.join(a.out, "eval.json"), "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
