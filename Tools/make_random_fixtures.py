#!/usr/bin/env python3
"""Writes Tests/TensorTests/Fixtures/random/torch_random.json: float bit patterns drawn from PyTorch's
CPU generator (torch.Generator("cpu").manual_seed(s)), for the Swift TorchGenerator tests.

Run with the project venv:  /work/venv/bin/python Tools/make_random_fixtures.py [--dump-dir DIR]
--dump-dir also writes full little-endian f32 dumps of the big latents (not committed; for ulp studies).
"""
import argparse
import json
import os

import numpy as np
import torch

SEEDS = [0, 1, 42, 2**32 + 5, 123456789012345]
SIZES = [1, 2, 15, 16, 17, 40, 1000, 4099]
LATENT_SHAPE = [1, 16, 64, 64]
LATENT_STRIDE = 97  # keep every 97th value of the latent


def gen(seed):
    return torch.Generator("cpu").manual_seed(seed)


def f32_bits(t):
    return t.detach().contiguous().numpy().astype(np.float32).view(np.uint32).reshape(-1).tolist()


def half_bits(t):
    return t.detach().contiguous().view(torch.int16).numpy().view(np.uint16).reshape(-1).tolist()


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:  # small enough (256 KiB) for a plain loop
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump-dir", default=None)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "Tests", "TensorTests", "Fixtures", "random")
    os.makedirs(out_dir, exist_ok=True)

    fx = {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "note": "bits are IEEE float32 (or bfloat16) bit patterns, row-major; each case uses a fresh generator",
    }
    fx["randn_f32"] = [{"seed": s, "n": n, "bits": f32_bits(torch.randn(n, generator=gen(s)))}
                       for s in SEEDS for n in SIZES]
    fx["rand_f32"] = [{"seed": s, "n": n, "bits": f32_bits(torch.rand(n, generator=gen(s)))}
                      for s in SEEDS for n in [1, 5, 16, 33]]

    # Successive calls on one generator continue the stream (and the cached small-path normal).
    ops = [["randn", 20], ["randn", 5], ["rand", 7], ["randn", 3], ["randn", 1], ["randn", 17],
           ["rand", 2], ["randn", 2], ["randn", 15], ["randn", 16], ["randn", 1]]
    seqs = []
    for s in [0, 42]:
        g = gen(s)
        results = []
        for op, n in ops:
            t = torch.randn(n, generator=g) if op == "randn" else torch.rand(n, generator=g)
            results.append(f32_bits(t))
        seqs.append({"seed": s, "ops": ops, "bits": results})
    # manual_seed clears the cached normal: randn(1) leaves one cached; reseed; randn(1) must redraw.
    g = gen(7)
    a = f32_bits(torch.randn(1, generator=g))
    g.manual_seed(7)
    b = f32_bits(torch.randn(1, generator=g))
    c = f32_bits(torch.randn(1, generator=g))
    seqs.append({"seed": 7, "ops": [["randn", 1], ["reseed", 7], ["randn", 1], ["randn", 1]], "bits": [a, [], b, c]})
    fx["sequences"] = seqs

    latents = []
    for s in SEEDS:
        t = torch.randn(LATENT_SHAPE, generator=gen(s)).contiguous().numpy().astype("<f4")
        raw = t.tobytes()
        if args.dump_dir:
            os.makedirs(args.dump_dir, exist_ok=True)
            with open(os.path.join(args.dump_dir, f"latent_{s}.f32"), "wb") as f:
                f.write(raw)
        flat = t.reshape(-1)
        latents.append({
            "seed": s, "shape": LATENT_SHAPE, "stride": LATENT_STRIDE,
            "sample_bits": flat[::LATENT_STRIDE].view(np.uint32).tolist(),
            "fnv1a64": "%016x" % fnv1a64(raw),
            "sum": float(flat.astype(np.float64).sum()),
        })
    fx["latents"] = latents

    # 16-bit dtypes: f32 math per block of 16, then rounded (bits are the raw 16-bit patterns).
    half = {"bf16": torch.bfloat16, "f16": torch.float16}
    fx["randn_half"] = [{"dtype": d, "seed": s, "n": n,
                         "bits": half_bits(torch.randn(n, dtype=half[d], generator=gen(s)))}
                        for d, seeds in [("bf16", SEEDS), ("f16", [0, 42])]
                        for s in seeds for n in [1, 2, 15, 16, 17, 20, 40, 1000, 4099]]
    # n = 3000 in bf16 hits uniforms that round up to 1.0 (torch maps those to 0.0).
    fx["rand_half"] = [{"dtype": d, "seed": s, "n": n,
                        "bits": half_bits(torch.rand(n, dtype=half[d], generator=gen(s)))}
                       for d in ["bf16", "f16"] for s in [0, 42] for n in [5, 40, 3000]]

    path = os.path.join(out_dir, "torch_random.json")
    with open(path, "w") as f:
        json.dump(fx, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
