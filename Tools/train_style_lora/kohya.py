"""diffusers/PEFT LoRA <-> kohya (sd-scripts) LoRA with BFL layer names, for the Flux DiT.

A kohya module `lora_unet_<bfl name with _ for .>` holds `.lora_down.weight` [R, in], `.lora_up.weight`
[out, R] and `.alpha` (scalar); its weight delta is (alpha / R) * up @ down.

PEFT trains q, k, v (and the single blocks' proj_mlp) as separate Linears; BFL fuses them along the
output dimension ([q|k|v] for double_blocks.N.{img,txt}_attn.qkv, [q|k|v|mlp] for single_blocks.N.linear1).
One fused LoRA that is exactly the sum of the parts: down = the parts' A stacked along the rank
(R = sum of ranks), up = block-diagonal (part i's B, times its scale, in part i's row slice and rank
columns, zeros elsewhere), alpha = R (scale 1). Layers that map one-to-one keep their rank r, with
alpha = scale * r.

The reverse (kohya -> PEFT, used to check the file through diffusers) gives each part of a fused layer
A = down (rank R) and B = (alpha / R) * up[its row slice]: exact for any fused LoRA, block-diagonal or not.
"""
import os
import re
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from flux_layouts import DOUBLE_LINEARS, SINGLE_LINEARS  # noqa: E402

# diffusers name inside transformer_blocks.N -> BFL name inside double_blocks.N (one-to-one)
DOUBLE = DOUBLE_LINEARS
# fused BFL layers: parts in row order
DOUBLE_FUSED = {
    "img_attn.qkv": ["attn.to_q", "attn.to_k", "attn.to_v"],
    "txt_attn.qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"],
}
SINGLE = SINGLE_LINEARS
SINGLE_FUSED = {"linear1": ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]}


def kohya_name(bfl):
    """`double_blocks.0.img_attn.qkv` -> `lora_unet_double_blocks_0_img_attn_qkv`."""
    return "lora_unet_" + bfl.replace(".", "_")


def _layers(n_double, n_single):
    """(BFL name, [diffusers names of its parts in row order])."""
    out = []
    for i in range(n_double):
        p, q = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        out += [(q + b, [p + d]) for d, b in DOUBLE.items()]
        out += [(q + b, [p + d for d in parts]) for b, parts in DOUBLE_FUSED.items()]
    for i in range(n_single):
        p, q = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        out += [(q + b, [p + d]) for d, b in SINGLE.items()]
        out += [(q + b, [p + d for d in parts]) for b, parts in SINGLE_FUSED.items()]
    return out


def _count_blocks(names):
    nd = {int(m.group(1)) for k in names for m in [re.match(r"(?:transformer\.)?transformer_blocks\.(\d+)\.", k)] if m}
    ns = {int(m.group(1)) for k in names for m in [re.match(r"(?:transformer\.)?single_transformer_blocks\.(\d+)\.", k)] if m}
    return (max(nd) + 1 if nd else 0), (max(ns) + 1 if ns else 0)


def peft_to_kohya(sd, scale=1.0, dtype=torch.bfloat16, shapes=None):
    """diffusers LoRA state dict (`transformer.<module>.lora_A.weight` / `lora_B`) -> kohya dict.
    `scale` = lora_alpha / r of the PEFT adapter. `shapes`: {diffusers module: (out, in)} of the base
    Linears, needed only when a part of a fused layer has no LoRA (its rows stay zero). Every LoRA key
    must be used (an error lists the first unused ones)."""
    sd = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in sd.items()}
    used, out = set(), {}
    for bfl, parts in _layers(*_count_blocks(sd)):
        have = [p for p in parts if f"{p}.lora_A.weight" in sd]
        if not have:
            continue
        if len(have) != len(parts) and shapes is None:
            raise ValueError(f"{bfl}: LoRA on {have} only; pass shapes= to fill the other row slices")
        downs, ups = [], []
        for p in parts:
            if p in have:
                a, b = sd[f"{p}.lora_A.weight"].float(), sd[f"{p}.lora_B.weight"].float() * scale
                used |= {f"{p}.lora_A.weight", f"{p}.lora_B.weight"}
            else:
                o, i = shapes[p]
                a, b = torch.zeros(0, i), torch.zeros(o, 0)
            downs.append(a)
            ups.append(b)
        down = torch.cat(downs, 0)
        rank = down.shape[0]
        up = torch.zeros(sum(u.shape[0] for u in ups), rank)
        r0 = c0 = 0
        for u in ups:
            up[r0:r0 + u.shape[0], c0:c0 + u.shape[1]] = u
            r0, c0 = r0 + u.shape[0], c0 + u.shape[1]
        k = kohya_name(bfl)
        out[f"{k}.lora_down.weight"] = down.to(dtype).contiguous()
        out[f"{k}.lora_up.weight"] = up.to(dtype).contiguous()
        out[f"{k}.alpha"] = torch.tensor(float(rank), dtype=dtype)  # scale folded into up: alpha / rank = 1
    left = sorted(set(sd) - used)
    if left:
        raise ValueError(f"{len(left)} LoRA keys map to no BFL layer, e.g. {left[:4]}")
    return out


def kohya_to_peft(ko, row_sizes):
    """kohya dict -> diffusers LoRA state dict (`transformer.` prefix), f32, scale folded into lora_B.
    row_sizes: {diffusers module: out features} for the parts of fused layers."""
    names = sorted({k.rsplit(".lora_", 1)[0].rsplit(".alpha", 1)[0] for k in ko})
    out = {}
    n_double = 1 + max([int(m.group(1)) for n in names for m in [re.match(r"lora_unet_double_blocks_(\d+)_", n)] if m], default=-1)
    n_single = 1 + max([int(m.group(1)) for n in names for m in [re.match(r"lora_unet_single_blocks_(\d+)_", n)] if m], default=-1)
    known = {kohya_name(b): parts for b, parts in _layers(n_double, n_single)}
    for n in names:
        if n not in known:
            raise ValueError(f"kohya module {n} maps to no layer of this model")
        down = ko[f"{n}.lora_down.weight"].float()
        up = ko[f"{n}.lora_up.weight"].float()
        rank = down.shape[0]
        alpha = float(ko[f"{n}.alpha"]) if f"{n}.alpha" in ko else float(rank)
        up = up * (alpha / rank)
        parts = known[n]
        r0 = 0
        for p in parts:
            rows = up.shape[0] if len(parts) == 1 else row_sizes[p]
            out[f"transformer.{p}.lora_A.weight"] = down.clone()
            out[f"transformer.{p}.lora_B.weight"] = up[r0:r0 + rows].clone()
            r0 += rows
        if r0 != up.shape[0]:
            raise ValueError(f"{n}: lora_up has {up.shape[0]} rows, the parts {parts} have {r0}")
    return out


def deltas_from_kohya(ko):
    """{kohya module: (alpha / R) * up @ down} in f32."""
    out = {}
    for k in ko:
        if k.endswith(".lora_down.weight"):
            n = k[: -len(".lora_down.weight")]
            down, up = ko[k].float(), ko[f"{n}.lora_up.weight"].float()
            alpha = float(ko[f"{n}.alpha"]) if f"{n}.alpha" in ko else float(down.shape[0])
            out[n] = (alpha / down.shape[0]) * up @ down
    return out


def deltas_from_peft(sd, scale=1.0):
    """{kohya module: the fused BFL weight delta}: the parts' scale * B @ A stacked in row order, f32."""
    sd = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in sd.items()}
    out = {}
    for bfl, parts in _layers(*_count_blocks(sd)):
        if f"{parts[0]}.lora_A.weight" in sd:
            out[kohya_name(bfl)] = torch.cat([scale * sd[f"{p}.lora_B.weight"].float() @ sd[f"{p}.lora_A.weight"].float()
                                              for p in parts], 0)
    return out
