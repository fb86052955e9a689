#!/usr/bin/env python3
"""Makes the Quant test fixtures from PyTorch (run with /work/venv/bin/python from the repo root).

Writes
  Tests/QuantTests/Fixtures/float8_codec.json  float8 decode tables, exhaustive encode runs, edge cases
  Tests/QuantTests/Fixtures/quant_cases.json   scale / int8 / int4 / fp8 quantisation of a small matrix

Exhaustive encoding: every one of the 2^32 f32 bit patterns (and all 2^16 bf16 / f16 patterns) is
converted by PyTorch. Because encoding is monotone in the bit pattern within each sign, the full
mapping compresses to a list of runs (first bit pattern of the run, code), a few hundred per mode.
The Swift test re-encodes all 2^32 inputs and compares against the runs.

Overflow modes for e4m3fn: the local PyTorch (2.15) saturates (beyond +-448, inf included -> +-448).
The NaN-on-overflow mode of PyTorch 2.11 (docs/flux-reference.md section 5) is derived from the
saturating output by its documented rule -- |x| above the 464 tie, inf included, gives NaN (0x7F|sign)
-- and checked against the measured 2.11 facts listed there (asserted below).
"""
import base64, json, os, struct, sys
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "QuantTests", "Fixtures")
E4, E5 = torch.float8_e4m3fn, torch.float8_e5m2
B464 = struct.unpack("<I", struct.pack("<f", 464.0))[0]


def f32bits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


def to_codes(x, dt):
    return x.to(dt).view(torch.uint8).numpy()


def nan_mode_from_sat(bits_u32, sat_codes):
    """PyTorch 2.11 e4m3fn rule: |x| > 464 (after rounding: above the tie) or inf -> NaN, sign kept."""
    a = bits_u32 & np.uint32(0x7FFFFFFF)
    sign = ((bits_u32 >> np.uint32(24)) & np.uint32(0x80)).astype(np.uint8)
    out = sat_codes.copy()
    mask = a > np.uint32(B464)
    out[mask] = np.uint8(0x7F) | sign[mask]
    return out


class Runs:
    def __init__(self):
        self.starts, self.codes, self.last = [], [], None

    def add(self, base, codes):
        if self.last is None or codes[0] != self.last:
            self.starts.append(int(base)); self.codes.append(int(codes[0]))
        idx = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        for i in idx:
            self.starts.append(int(base + i)); self.codes.append(int(codes[i]))
        self.last = codes[-1]

    def json(self):
        return {"starts": self.starts, "codes": self.codes}


def exhaustive_f32():
    chunk = 1 << 26
    runs = {"e4m3fn_saturate": Runs(), "e4m3fn_nan": Runs(), "e5m2": Runs()}
    for c in range((1 << 32) // chunk):
        bits = np.arange(c * chunk, (c + 1) * chunk, dtype=np.uint64).astype(np.uint32)
        x = torch.from_numpy(bits.view(np.float32))
        sat = to_codes(x, E4)
        runs["e4m3fn_saturate"].add(c * chunk, sat)
        runs["e4m3fn_nan"].add(c * chunk, nan_mode_from_sat(bits, sat))
        runs["e5m2"].add(c * chunk, to_codes(x, E5))
        print(f"\rf32 chunk {c + 1}/64", end="", file=sys.stderr)
    print(file=sys.stderr)
    return {k: v.json() for k, v in runs.items()}


def exhaustive_16(dtype):
    bits16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    x = torch.from_numpy(bits16.view(np.int16)).view(dtype)
    out = {}
    sat = to_codes(x, E4)
    f32 = x.float().numpy().view(np.uint32)
    for name, codes in (("e4m3fn_saturate", sat), ("e4m3fn_nan", nan_mode_from_sat(f32, sat)), ("e5m2", to_codes(x, E5))):
        r = Runs(); r.add(0, codes); out[name] = r.json()
    return out


def decode_tables():
    codes = torch.arange(256, dtype=torch.uint8)
    out = {}
    for name, dt in (("e4m3fn", E4), ("e5m2", E5)):
        x = codes.view(dt)
        out[name] = {
            "f32": [int(v) for v in x.float().numpy().view(np.uint32)],
            "bf16": [int(v) for v in x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)],
            "f16": [int(v) for v in x.to(torch.float16).view(torch.int16).numpy().view(np.uint16)],
        }
    return out


EDGE_VALUES = [0.0, -0.0, 2 ** -10, -(2 ** -10), 2 ** -10 * 1.0000001, 2 ** -9, 1.5 * 2 ** -9, 2.5 * 2 ** -9,
               2 ** -6, 2 ** -6 * 0.99, 2 ** -7 * 1.0625, 1.0, 1.0625, 1.1875, 1.3125, 240.0, 248.0, 256.0, 272.0,
               416.0, 432.0, 440.0, 447.9, 448.0, 449.0, 456.0, 463.99, 464.0, 464.01, 472.0, 480.0, 500.0, 1e6,
               -448.0, -456.0, -464.0, -464.01, -480.0, 57344.0, 57345.0, 61439.0, 61440.0, 65504.0, 65536.0,
               -449.0, -1e6, -61440.0, 2 ** -16, 2 ** -17, 1.5 * 2 ** -16, 2 ** -14, 3.4e38, 1e-45,
               float("inf"), float("-inf")]
EDGE_BITS = [f32bits(v) for v in EDGE_VALUES] + [0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF]


def edges():
    bits = np.array(EDGE_BITS, dtype=np.uint32)
    x = torch.from_numpy(bits.view(np.float32))
    sat = to_codes(x, E4)
    nan = nan_mode_from_sat(bits, sat)
    e5 = to_codes(x, E5)
    # Facts measured on PyTorch 2.11 and 2.15 (docs/flux-reference.md section 5).
    d = {b: (int(s), int(n), int(e)) for b, s, n, e in zip(EDGE_BITS, sat, nan, e5)}
    for v in (448.0, 449.0, 456.0, 464.0):
        assert d[f32bits(v)][1] == 0x7E, v
    for v in (464.01, 480.0, float("inf")):
        assert d[f32bits(v)][1] == 0x7F, v
    for v in (449.0, 464.01, 480.0, 1e6, float("inf")):
        assert d[f32bits(v)][0] == 0x7E and d[f32bits(-v)][0] == 0xFE, v
    assert d[f32bits(2 ** -10)][0] == 0 and d[f32bits(2 ** -10)][1] == 0
    assert d[0x7FC00000][:2] == (0x7F, 0x7F) and d[0xFFC00000][:2] == (0xFF, 0xFF)
    assert d[f32bits(57344.0)][2] == 0x7B and d[f32bits(61440.0)][2] == 0x7C and d[f32bits(float("inf"))][2] == 0x7C
    assert d[f32bits(61439.0)][2] == 0x7B
    return {"bits": EDGE_BITS, "e4m3fn_saturate": [int(v) for v in sat], "e4m3fn_nan": [int(v) for v in nan],
            "e5m2": [int(v) for v in e5]}


# ---- scales / int8 / int4 / fp8 quantisation of a small matrix ---------------------------------------

QMAX = {"fp8-e4m3fn": 448.0, "fp8-e5m2": 57344.0, "int8": 127.0, "int4": 7.0}


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def bits_hash(t):
    """Order-independent exact fingerprint of an f32 tensor: sum(bits[i] * (2i+1)) mod 2^64, as a string."""
    b = t.contiguous().numpy().astype("<f4").reshape(-1).view(np.uint32).astype(np.uint64)
    w = np.arange(b.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return str(int(np.sum(b * w, dtype=np.uint64)))


def quant_cases():
    g = torch.Generator().manual_seed(1234)
    N, K, M = 24, 256, 5
    W = torch.randn(N, K, generator=g) * 0.05
    W[3] = 0                      # zero row: channel scale falls back to 1
    W[5, 64:128] = 0              # zero block
    W[7, 11] = 30.0               # outlier
    W[9, 200] = -1000.0           # beyond e4m3fn range relative to the rest of its row
    W[10, :] *= 1e-4              # tiny row (subnormal fp8 codes under tensor scale)
    x = torch.randn(M, K, generator=g)
    bias = torch.randn(N, generator=g)
    cases = []
    for fmt, qmax in QMAX.items():
        grans = (["none"] if fmt.startswith("fp8") else []) + ["tensor", "channel", "block:32", "block:64", "block:128"]
        for gran in grans:
            if gran == "none":
                s_full = torch.ones(N, K); scales = None
            else:
                A = W.abs()
                if gran == "tensor":
                    amax = A.amax()
                elif gran == "channel":
                    amax = A.amax(dim=1)
                else:
                    gs = int(gran.split(":")[1]); amax = A.view(N, K // gs, gs).amax(-1)
                scales = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
                if gran == "tensor":
                    s_full = scales.expand(N, K)
                elif gran == "channel":
                    s_full = scales[:, None].expand(N, K)
                else:
                    s_full = scales.repeat_interleave(gs, dim=1)
            q = W / s_full
            if fmt.startswith("fp8"):
                dt = E4 if fmt == "fp8-e4m3fn" else E5
                qc = q.to(dt)
                data = qc.view(torch.uint8).numpy()
                deq = qc.float() * s_full
            elif fmt == "int8":
                qi = torch.round(q).clamp(-127, 127).to(torch.int8)
                data = qi.numpy()
                deq = qi.float() * s_full
            else:
                qi = torch.round(q).clamp(-8, 7).to(torch.int8)
                u = (qi.to(torch.int16) & 0xF).to(torch.uint8)
                data = (u[:, 0::2] | (u[:, 1::2] << 4)).numpy()
                deq = qi.float() * s_full
            y = (x.double() @ deq.double().T + bias.double()).float()
            # A bf16 Linear as PyTorch runs one on the CPU (f32 accumulation, bf16 result).
            y16 = torch.nn.functional.linear(x.bfloat16(), deq.bfloat16(), bias.bfloat16()).float()
            cases.append({
                "format": fmt, "scale": gran,
                "scales": None if scales is None else b64(scales.contiguous().numpy().astype("<f4")),
                "data": b64(data), "dequant_hash": bits_hash(deq),
                "y": b64(y.numpy().astype("<f4")), "y_bf16": b64(y16.numpy().astype("<f4")),
            })
    return {"rows": N, "cols": K, "m": M, "w": b64(W.numpy().astype("<f4")), "x": b64(x.numpy().astype("<f4")),
            "bias": b64(bias.numpy().astype("<f4")), "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    if "--cases-only" not in sys.argv:
        codec = {"torch": torch.__version__, "decode": decode_tables(), "edges": edges(),
                 "bf16": exhaustive_16(torch.bfloat16), "f16": exhaustive_16(torch.float16), "f32": exhaustive_f32()}
        with open(os.path.join(OUT, "float8_codec.json"), "w") as f:
            json.dump(codec, f, separators=(",", ":"))
        for k, v in codec["f32"].items():
            print(k, "runs:", len(v["starts"]), file=sys.stderr)
    with open(os.path.join(OUT, "quant_cases.json"), "w") as f:
        json.dump({"torch": torch.__version__, **quant_cases()}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
