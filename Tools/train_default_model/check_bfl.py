"""Check the BFL single file (flux-micro.safetensors) against the diffusers transformer/ folder.

A small, independent BFL-layout Flux forward written from docs/flux-reference.md section 1 (fused qkv,
interleaved RoPE, modulation order shift/scale/gate, final adaLN order shift/scale) is run on the BFL
weights and compared with diffusers' FluxTransformer2DModel on the same random inputs, in float32.

usage: python check_bfl.py [MODEL_DIR]   (default: Models/default)
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

PREFIX = "model.diffusion_model."


def lin(w, name, x):
    return F.linear(x, w[name + ".weight"], w.get(name + ".bias"))


def temb(v, dim=256):
    v = v * 1000.0
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = v[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def mlp_embed(w, name, x):
    return lin(w, name + ".out_layer", F.silu(lin(w, name + ".in_layer", x)))


def rope(ids, axes, theta=10000.0):
    """(L, sum(axes)/2, 2, 2) rotation matrices per position, axis by axis."""
    out = []
    for i, d in enumerate(axes):
        omega = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
        ang = ids[:, i].double()[:, None] * omega[None]
        cos, sin = torch.cos(ang), torch.sin(ang)
        out.append(torch.stack([cos, -sin, sin, cos], dim=-1).view(ids.shape[0], -1, 2, 2))
    return torch.cat(out, dim=1).float()


def apply_rope(x, pe):
    # x: (B, H, L, D); pairs (x[2k], x[2k+1])
    xs = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    out = pe[None, None, :, :, :, 0] * xs[..., 0] + pe[None, None, :, :, :, 1] * xs[..., 1]
    return out.reshape(x.shape)


def rms(x, scale):
    return (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6)) * scale


def attention(q, k, v, pe):
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    a = F.scaled_dot_product_attention(q, k, v)
    return a.transpose(1, 2).reshape(a.shape[0], a.shape[2], -1)


def ln(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def bfl_forward(w, img, txt, pooled, t, g, img_ids, txt_ids, heads, axes):
    hidden = w["img_in.weight"].shape[0]
    hd = hidden // heads
    x = lin(w, "img_in", img)
    c = lin(w, "txt_in", txt)
    vec = mlp_embed(w, "time_in", temb(t)) + mlp_embed(w, "guidance_in", temb(g)) + mlp_embed(w, "vector_in", pooled)
    pe = rope(torch.cat([txt_ids, img_ids], 0), axes)
    L = c.shape[1]
    sv = F.silu(vec)
    i = 0
    while f"double_blocks.{i}.img_mod.lin.weight" in w:
        p = f"double_blocks.{i}."
        im = lin(w, p + "img_mod.lin", sv)[:, None].chunk(6, dim=-1)
        tm = lin(w, p + "txt_mod.lin", sv)[:, None].chunk(6, dim=-1)
        qkvs = []
        for s, h, m in (("txt", c, tm), ("img", x, im)):
            hm = (1 + m[1]) * ln(h) + m[0]
            qkv = lin(w, p + f"{s}_attn.qkv", hm).view(h.shape[0], h.shape[1], 3, heads, hd).permute(2, 0, 3, 1, 4)
            q = rms(qkv[0], w[p + f"{s}_attn.norm.query_norm.scale"])
            k = rms(qkv[1], w[p + f"{s}_attn.norm.key_norm.scale"])
            qkvs.append((q, k, qkv[2]))
        q = torch.cat([qkvs[0][0], qkvs[1][0]], 2)
        k = torch.cat([qkvs[0][1], qkvs[1][1]], 2)
        v = torch.cat([qkvs[0][2], qkvs[1][2]], 2)
        a = attention(q, k, v, pe)
        ta, ia = a[:, :L], a[:, L:]
        x = x + im[2] * lin(w, p + "img_attn.proj", ia)
        x = x + im[5] * lin(w, p + "img_mlp.2", F.gelu(lin(w, p + "img_mlp.0", (1 + im[4]) * ln(x) + im[3]), approximate="tanh"))
        c = c + tm[2] * lin(w, p + "txt_attn.proj", ta)
        c = c + tm[5] * lin(w, p + "txt_mlp.2", F.gelu(lin(w, p + "txt_mlp.0", (1 + tm[4]) * ln(c) + tm[3]), approximate="tanh"))
        i += 1
    h = torch.cat([c, x], 1)
    i = 0
    while f"single_blocks.{i}.linear1.weight" in w:
        p = f"single_blocks.{i}."
        m = lin(w, p + "modulation.lin", sv)[:, None].chunk(3, dim=-1)
        hm = (1 + m[1]) * ln(h) + m[0]
        y = lin(w, p + "linear1", hm)
        qkv, mlp = y[..., :3 * hidden], y[..., 3 * hidden:]
        qkv = qkv.view(h.shape[0], h.shape[1], 3, heads, hd).permute(2, 0, 3, 1, 4)
        q = rms(qkv[0], w[p + "norm.query_norm.scale"])
        k = rms(qkv[1], w[p + "norm.key_norm.scale"])
        a = attention(q, k, qkv[2], pe)
        h = h + m[2] * lin(w, p + "linear2", torch.cat([a, F.gelu(mlp, approximate="tanh")], -1))
        i += 1
    x = h[:, L:]
    shift, scale = lin(w, "final_layer.adaLN_modulation.1", sv)[:, None].chunk(2, dim=-1)
    return lin(w, "final_layer.linear", (1 + scale) * ln(x) + shift)


def main():
    from diffusers import FluxTransformer2DModel
    d = sys.argv[1] if len(sys.argv) > 1 else "Models/default"
    cfg = json.load(open(os.path.join(d, "transformer", "config.json")))
    w = {k[len(PREFIX):]: v.float() for k, v in load_file(os.path.join(d, "flux-micro.safetensors")).items()}
    model = FluxTransformer2DModel.from_pretrained(os.path.join(d, "transformer"), torch_dtype=torch.float32).eval()
    torch.manual_seed(0)
    B, L, h = 2, 256, 8
    img = torch.randn(B, h * h, 64)
    txt = torch.randn(B, L, cfg["joint_attention_dim"])
    pooled = torch.randn(B, cfg["pooled_projection_dim"])
    t = torch.tensor([0.3, 0.9])
    g = torch.tensor([3.5, 1.0])
    img_ids = torch.zeros(h, h, 3)
    img_ids[..., 1] = torch.arange(h)[:, None]
    img_ids[..., 2] = torch.arange(h)[None, :]
    img_ids = img_ids.reshape(-1, 3)
    txt_ids = torch.zeros(L, 3)
    with torch.no_grad():
        ref = model(hidden_states=img, encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                    img_ids=img_ids, txt_ids=txt_ids, guidance=g, return_dict=False)[0]
        out = bfl_forward(w, img, txt, pooled, t, g, img_ids, txt_ids, cfg["num_attention_heads"], cfg["axes_dims_rope"])
    err = (out - ref).abs().max().item()
    print(f"BFL single file vs diffusers: max abs diff {err:.2e} (output max abs {ref.abs().max().item():.2f})")
    if err > 1e-3:
        raise SystemExit("MISMATCH")


if __name__ == "__main__":
    main()
