"""Independent check of the kohya file: diffusers' own kohya loader (its _convert_kohya_flux_lora_to_diffusers,
not kohya.py) loads it, and its pictures are compared with the PEFT original's on the 96 held-out prompts and
seeds (f32, as evaluate_lora.py). It works for LoRAs without single_blocks linear1 keys: diffusers' converter
assumes FLUX.1's full-size linear1 split (docs: lora-and-conditioning.md, traps).

usage: python check_kohya_in_diffusers.py KOHYA_FILE PEFT_DIR OUT_JSON
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import style  # noqa: E402
from style import analyser, scenes  # noqa: E402
import evaluate  # noqa: E402


def main():
    kohya_file, peft_dir, out = sys.argv[1:4]
    torch.set_num_threads(2)
    from diffusers import FluxPipeline
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()
    held = evaluate.eval_prompts(scenes.HELD_OUT, 2, 1000)
    pipe = FluxPipeline.from_pretrained(os.path.join(HERE, "..", "..", "Models", "default"), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    res = {}
    for name, src in (("kohya_by_diffusers", kohya_file), ("peft", peft_dir)):
        pipe.load_lora_weights(src, adapter_name=name)
        pipe.set_adapters([name], [1.0])
        res[name] = dict(modules=sum(1 for _, m in pipe.transformer.named_modules()
                                     if name in getattr(m, "lora_A", {})),
                         images=evaluate.generate(pipe, [x[0] for x in held], [x[1] for x in held]))
        pipe.delete_adapters(name)
    a, b = res["kohya_by_diffusers"]["images"], res["peft"]["images"]
    diff = [np.abs(x.astype(np.int32) - y.astype(np.int32)) for x, y in zip(a, b)]
    pa, _ = evaluate.score(held, a)
    report = dict(kohya_file=os.path.basename(kohya_file), n=len(held),
                  lora_modules_loaded=dict(kohya_by_diffusers=res["kohya_by_diffusers"]["modules"], peft=res["peft"]["modules"]),
                  max_abs_pixel_diff=int(max(d.max() for d in diff)), mean_abs_pixel_diff=round(float(np.mean([d.mean() for d in diff])), 5),
                  same_verdicts=sum(analyser.describe(analyser.analyse(x)) == analyser.describe(analyser.analyse(y))
                                    for x, y in zip(a, b)),
                  held_out_percent_kohya_by_diffusers=pa,
                  dark_fraction_mean=dict(kohya_by_diffusers=round(float(np.mean([style.dark_fraction(x) for x in a])), 4),
                                          peft=round(float(np.mean([style.dark_fraction(x) for x in b])), 4)))
    print(json.dumps(report, indent=1))
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
