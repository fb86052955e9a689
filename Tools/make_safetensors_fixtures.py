#!/usr/bin/env python3
"""Safetensors fixtures for Tests/TensorTests (SafeTensors*Tests.swift), written by the reference
`safetensors` package, plus a checker for files written by our Swift writer.

    /work/venv/bin/python Tools/make_safetensors_fixtures.py            # (re)write the fixtures
    /work/venv/bin/python Tools/make_safetensors_fixtures.py --verify F # check a Swift-written file

Fixtures (Tests/TensorTests/Fixtures/safetensors/):
  all_dtypes.safetensors   one or more tensors of every dtype, with __metadata__
  all_dtypes.expected.json per tensor: dtype, shape, raw bytes (hex) and values decoded by torch
  sharded/                 a 2-shard checkpoint with model.safetensors.index.json
  sharded.expected.json    the same description for every tensor of the sharded checkpoint
"""
import json
import math
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file, load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TensorTests", "Fixtures", "safetensors")
NAMES = {torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.bfloat16: "BF16", torch.float16: "F16",
         torch.float32: "F32", torch.int64: "I64", torch.int32: "I32", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def describe(t):
    """dtype, shape, raw little-endian bytes and values (floats as numbers or 'nan'/'inf'/'-inf')."""
    flat = t.contiguous().reshape(-1)
    raw = flat.view(torch.uint8) if flat.dtype != torch.bool else flat.to(torch.uint8)
    if t.dtype.is_floating_point:
        values = [v if math.isfinite(v) else str(v) for v in flat.double().tolist()]
    else:
        values = [int(v) for v in flat.to(torch.int64).tolist()]
    return {"dtype": NAMES[t.dtype], "shape": list(t.shape), "hex": bytes(raw.numpy().tobytes()).hex(), "values": values}


def all_dtypes():
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 0.1, 3.140625, 1e-3, float("inf"), float("-inf"), float("nan"),
                            448.0, 57344.0, 2.0 ** -9, 2.0 ** -16, 65504.0, 1e30])
    g = torch.Generator().manual_seed(1234)
    randn = torch.randn(4, 6, generator=g) * 3
    t = {}
    for dtype, name in [(torch.float32, "f32"), (torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        t[f"{name}.special"] = special.to(dtype)
        t[f"{name}.randn"] = randn.to(dtype)
    # e4m3fn has no infinity: PyTorch 2.15 saturates out-of-range values, keep only finite ones here.
    finite = special[torch.isfinite(special) & (special.abs() <= 448)]
    t["f8_e4m3.special"] = torch.cat([finite, torch.tensor([float("nan")])]).to(torch.float8_e4m3fn)
    t["f8_e4m3.randn"] = randn.to(torch.float8_e4m3fn)
    t["f8_e4m3.all_bits"] = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(torch.float8_e4m3fn).reshape(16, 16)
    t["f8_e5m2.special"] = special[special.abs() <= 57344].to(torch.float8_e5m2)
    t["f8_e5m2.all_bits"] = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(torch.float8_e5m2).reshape(2, 8, 16)
    t["i64.values"] = torch.tensor([0, 1, -1, 2 ** 40, -(2 ** 62), 2 ** 63 - 1, -(2 ** 63)], dtype=torch.int64)
    t["i32.values"] = torch.tensor([[0, 1, -1], [2 ** 31 - 1, -(2 ** 31), 123456]], dtype=torch.int32)
    t["i8.values"] = torch.tensor([0, 1, -1, 127, -128], dtype=torch.int8)
    t["u8.values"] = torch.tensor([0, 1, 128, 255, 7], dtype=torch.uint8)
    t["bool.values"] = torch.tensor([[True, False, True], [False, False, True]])
    t["f32.scalar"] = torch.tensor(2.75)
    t["f32.empty"] = torch.zeros(0, 3)
    return t


def write(path, tensors, metadata=None):
    save_file(tensors, path, metadata=metadata)
    with open(os.path.splitext(path)[0] + ".expected.json", "w") as f:
        json.dump({k: describe(v) for k, v in sorted(tensors.items())}, f, indent=1)


def make():
    os.makedirs(os.path.join(ROOT, "sharded"), exist_ok=True)
    write(os.path.join(ROOT, "all_dtypes.safetensors"), all_dtypes(),
          {"format": "pt", "note": "quote \" backslash \\ unicode \u00e9\u4e2d\U0001F600"})

    g = torch.Generator().manual_seed(7)
    shards = [
        {"layer.0.weight": torch.randn(8, 4, generator=g).to(torch.bfloat16),
         "layer.0.bias": torch.randn(8, generator=g),
         "layer.1.weight": torch.randn(3, 8, generator=g).to(torch.float8_e4m3fn)},
        {"layer.1.bias": torch.randn(3, generator=g).to(torch.float16),
         "layer.1.scale_weight": torch.tensor(0.25),
         "positions": torch.arange(5, dtype=torch.int64)},
    ]
    weight_map, total, expected = {}, 0, {}
    for i, tensors in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(tensors, os.path.join(ROOT, "sharded", fname), metadata={"format": "pt"})
        for k, v in tensors.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
            expected[k] = describe(v)
    with open(os.path.join(ROOT, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    with open(os.path.join(ROOT, "sharded.expected.json"), "w") as f:
        json.dump(dict(sorted(expected.items())), f, indent=1)
    print("fixtures written to", os.path.normpath(ROOT))


# The file written by SafeTensorsWriterTests.testWriterOutputForPythonCheck: tensor "t.<dtype>" of shape
# (3, 5) holding element i = (i - 7) * 0.5 (floats), (i - 7) * 3 (signed ints), i * 17 (u8), i % 3 == 0 (bool),
# with metadata {"writer": "majicflux", "dtypes": "<count>"}.
def verify(path):
    loaded = load_file(path)  # the reference loader validates header, offsets and sizes
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    i = torch.arange(15).reshape(3, 5)
    want = {}
    for dtype, name in NAMES.items():
        if dtype.is_floating_point:
            v = ((i - 7).double() * 0.5).to(dtype)
        elif dtype == torch.bool:
            v = i % 3 == 0
        elif dtype == torch.uint8:
            v = (i * 17).to(dtype)
        else:
            v = ((i - 7) * 3).to(dtype)
        want[f"t.{name}"] = v
    assert meta == {"writer": "majicflux", "dtypes": str(len(want))}, meta
    assert sorted(loaded) == sorted(want), sorted(loaded)
    for k, v in want.items():
        got = loaded[k]
        assert got.dtype == v.dtype and got.shape == v.shape, (k, got.dtype, got.shape)
        assert describe(got)["hex"] == describe(v)["hex"], (k, got, v)
    print(f"OK: {path} holds {len(want)} tensors that match, metadata {meta}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        verify(sys.argv[2])
    else:
        make()
