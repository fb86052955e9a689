#!/usr/bin/env python3
"""Writes PyTorch reference fixtures for the elementwise / reduction / norm / indexing ops.

Run:  /work/venv/bin/python Tools/make_op_fixtures.py
Output: Tests/TensorTests/Fixtures/ops/{elementwise,reduction,norm,indexing}.json

Each file is {"cases": {name: {"inputs": {name: tensor}, "output": tensor, ...params}}} where a float
tensor is {"shape": [...], "f32": base64 of little-endian float32 bytes} and an integer tensor is
{"shape": [...], "ints": [...]}. Inputs come from torch.manual_seed(0) (deterministic); outputs are
computed by torch in float32 on the CPU. Cases whose name ends in "_bf16" feed torch the input rounded
to bfloat16 (and the Swift test converts its input to .bf16 first). Views (permute, slice, expand) named
in a case are applied identically on both sides; the Swift tests spell them out next to each case.
"""
import base64, json, math, os
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorTests", "Fixtures", "ops")


def enc(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.int32, torch.int64):
        return {"shape": list(t.shape), "ints": [int(v) for v in t.reshape(-1).tolist()]}
    a = t.to(torch.float32).numpy().astype("<f4")
    return {"shape": list(t.shape), "f32": base64.b64encode(a.tobytes()).decode()}


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def write(name, cases):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump({"generator": "Tools/make_op_fixtures.py", "torch": torch.__version__, "cases": cases}, f,
                  separators=(",", ":"))
    print(f"{path}: {os.path.getsize(path)} bytes, {len(cases)} cases")


def elementwise():
    cases = {}
    # One shared grid for the unary functions: a dense sweep, random values, tiny magnitudes, tails.
    grid = torch.cat([
        torch.linspace(-12, 12, 961),
        torch.randn(400) * 3,
        torch.tensor([0.0, -0.0, 1e-7, -1e-7, 1e-5, -1e-5, 1e-3, -1e-3, 0.5, -0.5, 0.625, -0.625,
                      0.99, 1.0, 1.01, -1.0, 3.9, 4.0, 4.1, -4.0, 20.0, -20.0, 40.0, -40.0, 80.0, -80.0, 88.0, -88.0]),
    ]).float()
    pos = grid.abs() + 1e-3
    unary = {
        "neg": torch.neg, "exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "silu": F.silu,
        "gelu": lambda x: F.gelu(x), "geluTanh": lambda x: F.gelu(x, approximate="tanh"),
        "quickGelu": lambda x: x * torch.sigmoid(1.702 * x), "sin": torch.sin, "cos": torch.cos,
        "erf": torch.erf, "abs": torch.abs, "square": torch.square,
    }
    for name, f in unary.items():
        x = grid.clamp(-80, 80) if name == "exp" else grid
        cases["unary_" + name] = {"op": name, "inputs": {"x": enc(x)}, "output": enc(f(x))}
    for name, f in {"log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt}.items():
        cases["unary_" + name] = {"op": name, "inputs": {"x": enc(pos)}, "output": enc(f(pos))}

    # bf16 inputs: torch sees the bf16-rounded values.
    xb = torch.randn(3, 5, 7) * 2
    cases["silu_bf16"] = {"inputs": {"x": enc(xb)}, "output": enc(F.silu(bf16(xb)))}
    cases["geluTanh_bf16"] = {"inputs": {"x": enc(xb)}, "output": enc(F.gelu(bf16(xb), approximate="tanh"))}

    # Non-contiguous unary inputs.
    x = torch.randn(4, 6, 5)
    cases["silu_permuted"] = {"inputs": {"x": enc(x)}, "output": enc(F.silu(x.permute(2, 0, 1)))}
    cases["exp_sliced"] = {"inputs": {"x": enc(x)}, "output": enc(torch.exp(x[:, 1::2, :]))}
    cases["tanh_transposed"] = {"inputs": {"x": enc(x)}, "output": enc(torch.tanh(x.transpose(0, 2)))}

    # Broadcasting binary ops.
    a, b = torch.randn(2, 1, 4), torch.randn(3, 1)
    for op, f in {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                  "maximum": torch.maximum, "minimum": torch.minimum}.items():
        cases[f"binary_{op}_bcast"] = {"op": op, "inputs": {"a": enc(a), "b": enc(b)}, "output": enc(f(a, b))}
    a, bias = torch.randn(6, 10), torch.randn(10)
    cases["add_row_bias"] = {"inputs": {"a": enc(a), "b": enc(bias)}, "output": enc(a + bias)}
    col = torch.randn(6, 1)
    cases["mul_col_scale"] = {"inputs": {"a": enc(a), "b": enc(col)}, "output": enc(a * col)}
    a3, b3 = torch.randn(4, 3, 5), torch.randn(5, 3)
    cases["add_strided"] = {"inputs": {"a": enc(a3), "b": enc(b3)},
                            "output": enc(a3.permute(2, 1, 0) + b3.unsqueeze(2))}
    cases["sub_sliced"] = {"inputs": {"a": enc(a3), "b": enc(b3)}, "output": enc(a3[:, :, ::2] - b3[::2, 1])}
    cases["add_bias_bf16"] = {"inputs": {"a": enc(a), "b": enc(bias)}, "output": enc(bf16(a) + bf16(bias))}
    base, ex = torch.rand(40) * 3 + 0.1, torch.randn(40) * 2
    cases["pow"] = {"inputs": {"a": enc(base), "b": enc(ex)}, "output": enc(torch.pow(base, ex))}
    cases["pow_scalar"] = {"inputs": {"a": enc(base)}, "exponent": 1.7, "output": enc(torch.pow(base, 1.7))}
    s = torch.randn(7, 9)
    cases["scalar_ops"] = {"inputs": {"x": enc(s)},
                           "output": enc(((s * 1.5 + 0.25) - 3.0) / 0.7),
                           "output_rdiv": enc(2.0 / s), "output_rsub": enc(1.0 - s)}
    write("elementwise", cases)


def reduction():
    cases = {}
    x = torch.randn(3, 4, 5)
    for dims in [(0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)]:
        for keep in (False, True):
            key = "".join(map(str, dims)) + ("_keep" if keep else "")
            cases[f"sum_{key}"] = {"op": "sum", "dims": list(dims), "keep": keep, "inputs": {"x": enc(x)},
                                   "output": enc(x.sum(dim=dims, keepdim=keep))}
            cases[f"mean_{key}"] = {"op": "mean", "dims": list(dims), "keep": keep, "inputs": {"x": enc(x)},
                                    "output": enc(x.mean(dim=dims, keepdim=keep))}
            cases[f"max_{key}"] = {"op": "max", "dims": list(dims), "keep": keep, "inputs": {"x": enc(x)},
                                   "output": enc(torch.amax(x, dim=dims, keepdim=keep))}
            cases[f"min_{key}"] = {"op": "min", "dims": list(dims), "keep": keep, "inputs": {"x": enc(x)},
                                   "output": enc(torch.amin(x, dim=dims, keepdim=keep))}
    # Reductions of views: permuted, sliced, expanded.
    cases["sum_permuted_02"] = {"inputs": {"x": enc(x)}, "output": enc(x.permute(2, 0, 1).sum(dim=(0, 2)))}
    cases["mean_sliced_1"] = {"inputs": {"x": enc(x)}, "output": enc(x[:, ::2, 1:].mean(dim=1))}
    v = torch.randn(4, 1, 6)
    cases["max_expanded_01"] = {"inputs": {"x": enc(v)}, "output": enc(torch.amax(v.expand(4, 3, 6), dim=(0, 1)))}
    cases["sum_bf16_1"] = {"inputs": {"x": enc(x)}, "output": enc(bf16(x).sum(dim=1))}
    # Softmax along each dim (with a large offset to exercise the max subtraction).
    y = torch.randn(4, 6, 5) * 4 + 50
    for d in (0, 1, 2, -1):
        cases[f"softmax_{d}"] = {"dim": d, "inputs": {"x": enc(y)}, "output": enc(torch.softmax(y, dim=d))}
    cases["softmax_permuted_last"] = {"inputs": {"x": enc(y)}, "output": enc(torch.softmax(y.permute(0, 2, 1), dim=-1))}
    cases["softmax_bf16_last"] = {"inputs": {"x": enc(y)}, "output": enc(torch.softmax(bf16(y), dim=-1))}
    write("reduction", cases)


def norms():
    cases = {}
    x = torch.randn(3, 4, 64) * 2 + 0.5
    w, b = torch.randn(64), torch.randn(64)
    cases["layerNorm_plain_eps1e-6"] = {"eps": 1e-6, "inputs": {"x": enc(x)},
                                        "output": enc(F.layer_norm(x, (64,), eps=1e-6))}
    cases["layerNorm_affine_eps1e-5"] = {"eps": 1e-5, "inputs": {"x": enc(x), "w": enc(w), "b": enc(b)},
                                         "output": enc(F.layer_norm(x, (64,), w, b, eps=1e-5))}
    cases["layerNorm_permuted"] = {"eps": 1e-6, "inputs": {"x": enc(x)},
                                   "output": enc(F.layer_norm(x.permute(1, 0, 2), (64,), eps=1e-6))}
    cases["layerNorm_bf16"] = {"eps": 1e-6, "inputs": {"x": enc(x), "w": enc(w), "b": enc(b)},
                               "output": enc(F.layer_norm(bf16(x), (64,), bf16(w), bf16(b), eps=1e-6))}
    # A row with a large mean relative to its spread: two-pass variance matters here.
    big = torch.randn(2, 3072) * 0.01 + 1000.0
    cases["layerNorm_large_mean"] = {"eps": 1e-6, "inputs": {"x": enc(big)},
                                     "output": enc(F.layer_norm(big.double(), (3072,), eps=1e-6).float())}
    # RMSNorm: torch's F.rms_norm and the T5 formula (variance in f32, x * rsqrt(var + eps) * weight).
    r = torch.randn(2, 5, 128)
    rw = torch.rand(128) + 0.5
    cases["rmsNorm_torch"] = {"eps": 1e-6, "inputs": {"x": enc(r), "w": enc(rw)},
                              "output": enc(F.rms_norm(r, (128,), rw, eps=1e-6))}
    var = r.pow(2).mean(-1, keepdim=True)
    cases["rmsNorm_t5"] = {"eps": 1e-6, "inputs": {"x": enc(r), "w": enc(rw)},
                           "output": enc(rw * (r * torch.rsqrt(var + 1e-6)))}
    cases["rmsNorm_noweight"] = {"eps": 1e-6, "inputs": {"x": enc(r)}, "output": enc(F.rms_norm(r, (128,), eps=1e-6))}
    cases["rmsNorm_bf16"] = {"eps": 1e-6, "inputs": {"x": enc(r), "w": enc(rw)},
                             "output": enc(F.rms_norm(bf16(r), (128,), bf16(rw), eps=1e-6))}
    # GroupNorm: VAE-like (32 groups, eps 1e-6, affine) and a small odd case without affine.
    g = torch.randn(2, 64, 5, 3) * 3 + 1
    gw, gb = torch.randn(64), torch.randn(64)
    cases["groupNorm_32_affine"] = {"groups": 32, "eps": 1e-6, "inputs": {"x": enc(g), "w": enc(gw), "b": enc(gb)},
                                    "output": enc(F.group_norm(g, 32, gw, gb, eps=1e-6))}
    g2 = torch.randn(1, 6, 7)
    cases["groupNorm_3_plain"] = {"groups": 3, "eps": 1e-5, "inputs": {"x": enc(g2)},
                                  "output": enc(F.group_norm(g2, 3, eps=1e-5))}
    cases["groupNorm_sliced"] = {"groups": 8, "eps": 1e-6, "inputs": {"x": enc(g), "w": enc(gw), "b": enc(gb)},
                                 "output": enc(F.group_norm(g[:, ::2, :, 1:], 8, gw[::2], gb[::2], eps=1e-6))}
    write("norm", cases)


def indexing():
    cases = {}
    table = torch.randn(50, 16)
    idx = torch.tensor([[3, 0, 49, 7], [7, 7, 1, 20]], dtype=torch.int64)
    cases["embedding_i64"] = {"inputs": {"table": enc(table), "idx": enc(idx)}, "output": enc(F.embedding(idx, table))}
    idx32 = torch.tensor([5, 4, 3, 2, 1, 0, 49], dtype=torch.int32)
    cases["embedding_i32"] = {"inputs": {"table": enc(table), "idx": enc(idx32)},
                              "output": enc(F.embedding(idx32.long(), table))}
    cases["embedding_bf16"] = {"inputs": {"table": enc(table), "idx": enc(idx)},
                               "output": enc(F.embedding(idx, bf16(table)))}
    a, b, c = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 1, 4)
    cases["cat_dim1"] = {"inputs": {"a": enc(a), "b": enc(b), "c": enc(c)}, "output": enc(torch.cat([a, b, c], dim=1))}
    d, e = torch.randn(3, 2, 4), torch.randn(1, 2, 4)
    cases["cat_dim0"] = {"inputs": {"a": enc(a), "d": enc(d), "e": enc(e)},
                         "output": enc(torch.cat([a.transpose(0, 1), d, e], dim=0))}
    f, g = torch.randn(2, 3, 2), torch.randn(2, 3, 6)
    cases["cat_last_permuted"] = {"inputs": {"a": enc(a), "f": enc(f), "g": enc(g)},
                                  "output": enc(torch.cat([f, a[:, :, ::2], g], dim=-1))}
    write("indexing", cases)


if __name__ == "__main__":
    elementwise()
    reduction()
    norms()
    indexing()
