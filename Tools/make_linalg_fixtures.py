#!/usr/bin/env python3
"""Writes the fixtures for the matmul / linear / conv2d / upsample / attention tests.

Run: /work/venv/bin/python Tools/make_linalg_fixtures.py
Output: Tests/TensorTests/Fixtures/linalg/<case>.json (shapes, parameters) and <case>.bin (the
tensors as raw little-endian f32, concatenated in the order the JSON lists them).

Inputs are seeded random f32 values. References are computed by PyTorch in float64 from those f32
inputs and then rounded to f32, so a test's error is the Swift kernel's own f32 rounding error.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorTests", "Fixtures", "linalg")
gen = torch.Generator().manual_seed(20261127)


def rand(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def write(name, tensors, params=None):
    meta = {"tensors": [], "params": params or {}}
    blob = bytearray()
    for key, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().numpy().astype("<f4")
        meta["tensors"].append({"name": key, "shape": list(a.shape), "offset": len(blob) // 4})
        blob += a.tobytes()
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(blob)
    return len(blob)


def d(t):
    return t.to(torch.float64)


def main():
    os.makedirs(OUT, exist_ok=True)
    total = 0

    # ---- matmul ----
    a, b = rand(7, 33), rand(33, 19)
    total += write("mm_2d", {"a": a, "b": b, "out": d(a) @ d(b)})
    a, b = rand(3, 5, 17), rand(3, 17, 11)
    total += write("mm_batched", {"a": a, "b": b, "out": torch.matmul(d(a), d(b))})
    a, b = rand(2, 1, 6, 9), rand(4, 9, 5)
    total += write("mm_broadcast", {"a": a, "b": b, "out": torch.matmul(d(a), d(b))})
    # Stored transposed: the test passes aT.transposed() and bT.transposed() (column-major views).
    aT, bT = rand(20, 12), rand(8, 20)
    total += write("mm_transposed", {"aT": aT, "bT": bT, "out": d(aT).T @ d(bT).T})
    # Batched with transposed b: (B, N, K) viewed as (B, K, N).
    a, bT = rand(4, 6, 10), rand(4, 7, 10)
    total += write("mm_batched_bt", {"a": a, "bT": bT, "out": torch.matmul(d(a), d(bT).transpose(1, 2))})
    # b shared across batches (folds into one GEMM).
    a, b = rand(2, 3, 5, 16), rand(16, 7)
    total += write("mm_fold", {"a": a, "b": b, "out": torch.matmul(d(a), d(b))})
    v, m, m2, w = rand(13), rand(13, 6), rand(4, 13), rand(13)
    total += write("mm_vec", {"v": v, "m": m, "m2": m2, "w": w,
                              "vm": d(v) @ d(m), "m2v": d(m2) @ d(v), "dot": (d(v) @ d(w)).reshape(1)})
    # Many small batches (runs the batch-parallel path).
    a, b = rand(9, 8, 12), rand(9, 12, 5)
    total += write("mm_many", {"a": a, "b": b, "out": torch.matmul(d(a), d(b))})
    a, b = rand(16, 1024), rand(1024, 24)
    total += write("mm_large_k", {"a": a, "b": b, "out": d(a) @ d(b)})

    # ---- linear ----
    x, w, bias = rand(2, 5, 24), rand(10, 24), rand(10)
    total += write("lin_bias", {"x": x, "w": w, "bias": bias, "out": F.linear(d(x), d(w), d(bias))})
    x, w = rand(7, 24), rand(10, 24)
    total += write("lin_nobias", {"x": x, "w": w, "out": F.linear(d(x), d(w))})
    # Weight stored transposed (the test passes wT.transposed()), input a column slice of a wider matrix.
    xw, wT, bias = rand(5, 48), rand(24, 10), rand(10)
    total += write("lin_strided", {"xwide": xw, "wT": wT, "bias": bias,
                                   "out": F.linear(d(xw[:, :24]), d(wT).T, d(bias))})
    # bf16-representable weight: the test converts it to bf16 exactly.
    x, w, bias = rand(3, 40), bf16_round(rand(36, 40)), rand(36)
    total += write("lin_bf16", {"x": x, "w": w, "bias": bias, "out": F.linear(d(x), d(w), d(bias))})

    # ---- conv2d ----
    x, w, bias = rand(2, 4, 9, 11), rand(6, 4, 3, 3), rand(6)
    total += write("conv_3x3", {"x": x, "w": w, "bias": bias, "out": F.conv2d(d(x), d(w), d(bias), padding=1)},
                   {"stride": [1, 1], "padding": [1, 1, 1, 1], "groups": 1})
    x, w, bias = rand(2, 8, 5, 7), rand(5, 8, 1, 1), rand(5)
    total += write("conv_1x1", {"x": x, "w": w, "bias": bias, "out": F.conv2d(d(x), d(w), d(bias))},
                   {"stride": [1, 1], "padding": [0, 0, 0, 0], "groups": 1})
    # VAE encoder downsample: pad (left 0, right 1, top 0, bottom 1), then 3x3 stride 2.
    x, w, bias = rand(1, 3, 10, 12), rand(4, 3, 3, 3), rand(4)
    ref = F.conv2d(F.pad(d(x), (0, 1, 0, 1)), d(w), d(bias), stride=2)
    total += write("conv_down", {"x": x, "w": w, "bias": bias, "out": ref},
                   {"stride": [2, 2], "padding": [0, 1, 0, 1], "groups": 1})
    x, w, bias = rand(1, 6, 8, 8), rand(4, 3, 3, 3), rand(4)
    total += write("conv_groups", {"x": x, "w": w, "bias": bias,
                                   "out": F.conv2d(d(x), d(w), d(bias), padding=1, groups=2)},
                   {"stride": [1, 1], "padding": [1, 1, 1, 1], "groups": 2})
    # Non-square kernel, per-axis stride and padding, no bias.
    x, w = rand(2, 3, 7, 9), rand(5, 3, 2, 5)
    total += write("conv_rect", {"x": x, "w": w, "out": F.conv2d(d(x), d(w), stride=(2, 1), padding=(1, 2))},
                   {"stride": [2, 1], "padding": [1, 1, 2, 2], "groups": 1})
    # 1x1 with groups (direct GEMM path per group).
    x, w = rand(3, 4, 5, 5), rand(6, 2, 1, 1)
    total += write("conv_1x1_groups", {"x": x, "w": w, "out": F.conv2d(d(x), d(w), groups=2)},
                   {"stride": [1, 1], "padding": [0, 0, 0, 0], "groups": 2})
    # Larger image for the band-tiled path (the test shrinks the tile budget to force many bands).
    x, w, bias = rand(1, 8, 24, 20), rand(8, 8, 3, 3), rand(8)
    total += write("conv_bands", {"x": x, "w": w, "bias": bias, "out": F.conv2d(d(x), d(w), d(bias), padding=1)},
                   {"stride": [1, 1], "padding": [1, 1, 1, 1], "groups": 1})

    # ---- upsample ----
    x = rand(2, 3, 4, 5)
    total += write("upsample", {"x": x, "out": F.interpolate(x, scale_factor=2, mode="nearest")})

    # ---- attention ----
    def sdpa(q, k, v, mask=None, scale=None):
        return F.scaled_dot_product_attention(d(q), d(k), d(v), attn_mask=None if mask is None else d(mask), scale=scale)

    q, k, v = rand(2, 3, 10, 16), rand(2, 3, 12, 16), rand(2, 3, 12, 16)
    total += write("sdpa_basic", {"q": q, "k": k, "v": v, "out": sdpa(q, k, v)})
    q, k, v, mask = rand(2, 3, 10, 16), rand(2, 3, 12, 16), rand(2, 3, 12, 16), rand(2, 1, 10, 12)
    total += write("sdpa_mask", {"q": q, "k": k, "v": v, "mask": mask, "out": sdpa(q, k, v, mask)})
    q, k, v = rand(1, 2, 9, 8), rand(1, 2, 9, 8), rand(1, 2, 9, 8)
    causal = torch.full((9, 9), float("-inf")).triu(1)
    total += write("sdpa_causal", {"q": q, "k": k, "v": v, "mask": causal, "out": sdpa(q, k, v, causal)})
    # Custom scale and a value head size different from the query head size.
    q, k, v = rand(1, 2, 5, 6), rand(1, 2, 7, 6), rand(1, 2, 7, 4)
    total += write("sdpa_scale_dv", {"q": q, "k": k, "v": v, "out": sdpa(q, k, v, scale=0.3)}, {"scale": 0.3})
    # Long sequence: several query blocks per head.
    q, k, v = rand(1, 2, 600, 8), rand(1, 2, 600, 8), rand(1, 2, 600, 8)
    total += write("sdpa_long", {"q": q, "k": k, "v": v, "out": sdpa(q, k, v)})

    print(f"wrote fixtures to {os.path.normpath(OUT)}: {total} bytes of tensor data")


if __name__ == "__main__":
    sys.exit(main())
