#!/usr/bin/env python3
"""Checks a file written by `majicflux quantize` against PyTorch (run with /work/venv/bin/python).

usage: check_quantized_file.py ORIGINAL.safetensors QUANTIZED.safetensors

Loads both files with the reference safetensors reader (which must accept the output), then for every
quantized Linear recomputes scales and codes from the original with PyTorch's own ops
(amax / qmax, `(w / s).to(float8)`, `round(w / s).clamp(...)`) and requires bit-identical codes and
scales; every other tensor must be byte-identical to the original.
"""
import json, struct, sys
import torch
from safetensors import safe_open
from safetensors.torch import load_file

QMAX = {"fp8-e4m3fn": 448.0, "fp8-e5m2": 57344.0, "int8": 127.0, "int4": 7.0}


def header_metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def main(orig_path, quant_path):
    orig = load_file(orig_path)
    quant = load_file(quant_path)
    meta = header_metadata(quant_path)
    fmt, scale = meta["majicflux.quant.format"], meta["majicflux.quant.scale"]
    overflow = meta.get("majicflux.quant.overflow", "saturate")
    checked = copied = 0
    for name, w in orig.items():
        q = quant[name]
        layer = name[: -len(".weight")] if name.endswith(".weight") else None
        scale_name = next((layer + s for s in (".scale_weight", ".weight_scale") if layer and layer + s in quant), None)
        quantized = scale_name is not None or (q.dtype != w.dtype and q.dtype in (torch.float8_e4m3fn, torch.float8_e5m2))
        if not quantized:
            assert q.dtype == w.dtype and torch.equal(q.view(torch.uint8), w.view(torch.uint8)), name
            copied += 1
            continue
        wf = w.float()
        N, K = wf.shape
        if scale == "none":
            s_full = torch.ones_like(wf)
        else:
            s = quant[scale_name].float()
            A = wf.abs()
            if scale == "tensor":
                amax = A.amax()
            elif scale == "channel":
                amax = A.amax(dim=1, keepdim=True)
            else:
                g = int(scale.split(":")[1]); amax = A.view(N, K // g, g).amax(-1)
            ref = torch.where(amax > 0, amax / QMAX[fmt], torch.ones_like(amax))
            assert torch.equal(s.reshape(ref.shape), ref), f"{name}: scales differ"
            s_full = ref.expand(N, K) if scale in ("tensor", "channel") else ref.repeat_interleave(g, dim=1)
        x = wf / s_full
        if fmt.startswith("fp8"):
            dt = torch.float8_e4m3fn if fmt == "fp8-e4m3fn" else torch.float8_e5m2
            want = x.to(dt).view(torch.uint8)
            if overflow == "nan":  # PyTorch 2.11 rule: beyond the 464 tie (and inf) -> NaN, sign kept
                big = x.abs() > 464
                want = torch.where(big, (torch.signbit(x).to(torch.uint8) << 7) | 0x7F, want)
            got = q.view(torch.uint8)
        elif fmt == "int8":
            want = torch.round(x).clamp(-127, 127).to(torch.int8); got = q
        else:
            qi = torch.round(x).clamp(-8, 7).to(torch.int16) & 0xF
            want = (qi[:, 0::2] | (qi[:, 1::2] << 4)).to(torch.uint8); got = q
        assert torch.equal(got, want), f"{name}: codes differ ({(got != want).sum().item()} of {want.numel()})"
        checked += 1
    print(f"OK {quant_path}: {fmt} {scale} ({overflow}): {checked} quantized tensors bit-identical to PyTorch, "
          f"{copied} copied tensors identical; {len(quant)} tensors load with safetensors.torch")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
