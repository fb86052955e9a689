"""Convert a diffusers FluxTransformer2DModel checkpoint to the BFL single-file layout with ComfyUI's
`model.diffusion_model.` prefix (the mapping of docs/flux-reference.md section 1).

- q/k/v (+ proj_mlp in single blocks) are fused along the output dimension, in the order q, k, v(, mlp);
- norm_out.linear -> final_layer.adaLN_modulation.1 with its two halves swapped (diffusers: scale, shift;
  BFL: shift, scale).

usage: python export_bfl.py diffusion_pytorch_model.safetensors flux-micro.safetensors
"""
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from flux_layouts import DOUBLE_LINEARS, SINGLE_LINEARS  # noqa: E402
from safetensors.torch import load_file, save_file

PREFIX = "model.diffusion_model."

SIMPLE = {
    "x_embedder": "img_in",
    "context_embedder": "txt_in",
    "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
    "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
    "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
    "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
    "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
    "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
    "proj_out": "final_layer.linear",
}
DOUBLE = DOUBLE_LINEARS
DOUBLE_NORMS = {
    "attn.norm_q.weight": "img_attn.norm.query_norm.scale",
    "attn.norm_k.weight": "img_attn.norm.key_norm.scale",
    "attn.norm_added_q.weight": "txt_attn.norm.query_norm.scale",
    "attn.norm_added_k.weight": "txt_attn.norm.key_norm.scale",
}
SINGLE = SINGLE_LINEARS
SINGLE_NORMS = {"attn.norm_q.weight": "norm.query_norm.scale", "attn.norm_k.weight": "norm.key_norm.scale"}


def to_bfl(sd):
    out = {}
    used = set()

    def take(key):
        used.add(key)
        return sd[key]

    for d, b in SIMPLE.items():
        for kind in ("weight", "bias"):
            if f"{d}.{kind}" in sd:
                out[f"{b}.{kind}"] = take(f"{d}.{kind}")
    for kind in ("weight", "bias"):
        scale, shift = take(f"norm_out.linear.{kind}").chunk(2, dim=0)
        out[f"final_layer.adaLN_modulation.1.{kind}"] = torch.cat([shift, scale], dim=0)
    doubles = sorted({int(m.group(1)) for k in sd for m in [re.match(r"transformer_blocks\.(\d+)\.", k)] if m})
    singles = sorted({int(m.group(1)) for k in sd for m in [re.match(r"single_transformer_blocks\.(\d+)\.", k)] if m})
    for i in doubles:
        p, q = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for d, b in DOUBLE.items():
            for kind in ("weight", "bias"):
                out[f"{q}{b}.{kind}"] = take(f"{p}{d}.{kind}")
        for d, b in DOUBLE_NORMS.items():
            out[q + b] = take(p + d)
        for kind in ("weight", "bias"):
            out[f"{q}img_attn.qkv.{kind}"] = torch.cat([take(f"{p}attn.to_{x}.{kind}") for x in "qkv"], 0)
            out[f"{q}txt_attn.qkv.{kind}"] = torch.cat([take(f"{p}attn.add_{x}_proj.{kind}") for x in "qkv"], 0)
    for i in singles:
        p, q = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for d, b in SINGLE.items():
            for kind in ("weight", "bias"):
                out[f"{q}{b}.{kind}"] = take(f"{p}{d}.{kind}")
        for d, b in SINGLE_NORMS.items():
            out[q + b] = take(p + d)
        for kind in ("weight", "bias"):
            parts = [take(f"{p}attn.to_{x}.{kind}") for x in "qkv"] + [take(f"{p}proj_mlp.{kind}")]
            out[f"{q}linear1.{kind}"] = torch.cat(parts, 0)
    missing = set(sd) - used
    if missing:
        raise ValueError(f"unmapped diffusers keys: {sorted(missing)}")
    return out


def convert(src, dst):
    sd = load_file(src)
    bfl = {PREFIX + k: v.contiguous() for k, v in to_bfl(sd).items()}
    save_file(bfl, dst, metadata={"format": "pt"})
    return bfl


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
