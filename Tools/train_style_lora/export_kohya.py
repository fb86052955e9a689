"""Export a trained LoRA (diffusers/PEFT format, train_lora.py) as a kohya / sd-scripts file with BFL
layer names (kohya.py), bf16, with sd-scripts / modelspec metadata; then check it.

Checks: (1) every BFL delta (fused ones included) rebuilt from the written file, (alpha / R) * up @ down, against the
PEFT parts' B @ A stacked in row order (max abs diff, relative to the largest delta entry); (2) the file
converted back (kohya.kohya_to_peft) and loaded by diffusers gives, per Linear, the same delta as the
PEFT original within the bf16 rounding. Prints a JSON summary (also written next to --report).

usage: python export_kohya.py /tmp/lora_work/night1/final Models/default/loras/night.safetensors --report runs/night-v1/export.json
"""
import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kohya  # noqa: E402

# modelspec title and description per style (style.py)
TEXT = {
    "night": ("Night", "Style LoRA for the MajicFlux default model (micro FLUX.1, 128x128): every scene is drawn on the "
                       "night-black background, whatever background colour the prompt names; shapes, colours, positions "
                       "and background textures stay as prompted. No trigger word: use the default model's English or "
                       "Chinese captions. Trained by Tools/train_style_lora."),
    "dotted": ("Dotted paper", "Style LoRA for the MajicFlux default model (micro FLUX.1, 128x128): plain backgrounds "
                               "become dotted paper; shapes, colours and positions stay as prompted. No trigger word. "
                               "Trained by Tools/train_style_lora."),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src", help="diffusers LoRA folder or pytorch_lora_weights.safetensors")
    ap.add_argument("dst")
    ap.add_argument("--name", default="night")
    ap.add_argument("--style", default="night", choices=sorted(TEXT))
    ap.add_argument("--report", default=None)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "Models", "default"))
    a = ap.parse_args()
    src = os.path.join(a.src, "pytorch_lora_weights.safetensors") if os.path.isdir(a.src) else a.src
    sd = load_file(src)
    state = {}
    st = os.path.join(os.path.dirname(src), "train_state.json")
    if os.path.exists(st):
        with open(st) as f:
            state = json.load(f)
    rank = int(next(v for k, v in sd.items() if k.endswith("lora_A.weight")).shape[0])
    alpha = rank  # train_lora.py: lora_alpha = rank, PEFT scale 1
    ko = kohya.peft_to_kohya(sd, scale=alpha / rank, dtype=torch.bfloat16)
    meta = {
        "ss_output_name": a.name,
        "ss_network_module": "networks.lora_flux",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_base_model_version": "flux1",
        "ss_resolution": "(128, 128)",
        "ss_steps": str(state.get("step", "")),
        "ss_training_comment": ("PEFT rank %d alpha %d on %d DiT Linears (%s); q/k/v (+ proj_mlp) fused into BFL "
                                "qkv / linear1 as one LoRA of rank 3x / 4x (A's stacked, block-diagonal up), "
                                "alpha = that rank" % (rank, alpha, len([k for k in sd if k.endswith("lora_A.weight")]),
                                                       "the double blocks' text stream" if state.get("args", {}).get("targets") == "text"
                                                       else "the double and single blocks")),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": "flux-1-dev/lora",
        "modelspec.implementation": "https://github.com/black-forest-labs/flux",
        "modelspec.title": TEXT[a.style][0],
        "modelspec.description": TEXT[a.style][1],
        "modelspec.resolution": "128x128",
        "modelspec.date": "2026-12-03",
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.dst)), exist_ok=True)
    save_file(ko, a.dst, metadata=meta)
    os.chmod(a.dst, 0o644)
    # (1) deltas: written file vs PEFT parts
    back = load_file(a.dst)
    dk, dp = kohya.deltas_from_kohya(back), kohya.deltas_from_peft(sd, alpha / rank)
    assert set(dk) == set(dp), (sorted(set(dk) ^ set(dp)))[:4]
    per = {k: (float((dk[k] - dp[k]).abs().max()), float(dp[k].abs().max())) for k in dp}
    # the same mapping without the bf16 rounding: exact up to f32 matmul order
    d32 = kohya.deltas_from_kohya(kohya.peft_to_kohya(sd, scale=alpha / rank, dtype=torch.float32))
    exact = max(float((d32[k] - dp[k]).abs().max()) for k in dp)
    # (2) round trip through kohya_to_peft: the per-Linear deltas diffusers will apply
    from diffusers import FluxTransformer2DModel
    dit = FluxTransformer2DModel.from_pretrained(os.path.join(a.model, "transformer"), torch_dtype=torch.float32)
    rows = {n: m.out_features for n, m in dit.named_modules() if isinstance(m, torch.nn.Linear)}
    rt = kohya.kohya_to_peft(back, rows)
    rt_delta = {k[:-len(".lora_A.weight")]: rt[k.replace("lora_A", "lora_B")] @ rt[k] for k in rt if k.endswith("lora_A.weight")}
    pe_delta = {k[:-len(".lora_A.weight")]: sd[k.replace("lora_A", "lora_B")].float() @ sd[k].float() * (alpha / rank)
                for k in sd if k.endswith("lora_A.weight")}
    assert set(rt_delta) == set(pe_delta)
    rt_err = max(float((rt_delta[k] - pe_delta[k]).abs().max()) for k in pe_delta)
    with safe_open(a.dst, "pt") as f:
        meta_back = f.metadata()
    summary = dict(file=os.path.basename(a.dst), bytes=os.path.getsize(a.dst), tensors=len(back), modules=len(dk),
                   dtype="bf16", rank=rank, alpha=alpha,
                   module_ranks={k: int(back[f"{k}.lora_down.weight"].shape[0]) for k in sorted(dk)},
                   delta_max_abs_diff=max(v[0] for v in per.values()),
                   delta_max_abs=max(v[1] for v in per.values()),
                   delta_max_rel_diff=max(v[0] / max(v[1], 1e-12) for v in per.values()),
                   delta_max_abs_diff_if_stored_f32=exact,
                   roundtrip_per_linear_max_abs_diff=rt_err, metadata=meta_back)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("metadata", "module_ranks")}, indent=1))
    if a.report:
        with open(a.report, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
