#!/usr/bin/env python3
"""k-quant writer fixtures: ggml's reference C quantisers and the `gguf` package's dequantiser.

The `gguf` package (PyPI) dequantizes the k-quants but cannot quantize them, so the reference for our
writer (Sources/Quant/GGUF/GGUFQuantize+KQuants.swift) is ggml's own C: this script cuts
`nearest_int`, `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`, `get_scale_min_k4` and
`quantize_row_q{2,3,4,5,6}_K_ref` out of ggml-quants.c (ggml-org/ggml, checked at d99724f2), compiles
them with gcc -O2 -ffp-contract=off -DNDEBUG (no fused multiply-add: the portable build's arithmetic)
and halves rounded to nearest even (_Float16), and writes

- Tests/QuantTests/Fixtures/gguf/kquants.gguf: per type T in Q6_K, Q5_K, Q4_K, Q3_K, Q2_K:
    `T.source`: f32 [4, 512] (8 super-blocks: random normal ones and edge blocks: all zero, constant,
        all positive, all negative, one outlier, tiny and large magnitudes, integer ties),
    `T.quantized`: `quantize_row_T_ref(source)`, stored as T,
    `T.quantized.expected`: `gguf.quants.dequantize` of those bytes (F32).

Run from the repository root:
    /work/venv/bin/python Tools/make_gguf_kquant_fixtures.py PATH/TO/ggml/src/ggml-quants.c
"""
import ctypes
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/QuantTests/Fixtures/gguf/kquants.gguf")
TYPES = [T.Q6_K, T.Q5_K, T.Q4_K, T.Q3_K, T.Q2_K]
ROWS, COLS = 4, 512

PRELUDE = r"""
#include <math.h>
#include <string.h>
#include <stdint.h>
#include <stdbool.h>
#include <assert.h>
#define GGML_RESTRICT restrict
#define QK_K 256
#define K_SCALE_SIZE 12
#define GROUP_MAX_EPS 1e-15f
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
typedef uint16_t ggml_half;
static inline ggml_half fp32_to_fp16(float f) { _Float16 h = (_Float16)f; ggml_half b; memcpy(&b, &h, 2); return b; }
static inline float fp16_to_fp32(ggml_half b) { _Float16 h; memcpy(&h, &b, 2); return (float)h; }
#define GGML_FP32_TO_FP16(x) fp32_to_fp16(x)
#define GGML_FP16_TO_FP32(x) fp16_to_fp32(x)
typedef struct { uint8_t scales[QK_K/16]; uint8_t qs[QK_K/4]; ggml_half d; ggml_half dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K/8]; uint8_t qs[QK_K/4]; uint8_t scales[12]; ggml_half d; } block_q3_K;
typedef struct { ggml_half d; ggml_half dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K/2]; } block_q4_K;
typedef struct { ggml_half d; ggml_half dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K/8]; uint8_t qs[QK_K/2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K/2]; uint8_t qh[QK_K/4]; int8_t scales[QK_K/16]; ggml_half d; } block_q6_K;
_Static_assert(sizeof(block_q2_K) == 84, "q2_K"); _Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K"); _Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
"""

FUNCTIONS = ["static inline int nearest_int(", "static float make_qx_quants(", "static float make_q3_quants(",
             "static float make_qkx2_quants(", "static inline void get_scale_min_k4(",
             "void quantize_row_q2_K_ref(", "void quantize_row_q3_K_ref(", "void quantize_row_q4_K_ref(",
             "void quantize_row_q5_K_ref(", "void quantize_row_q6_K_ref("]


def cut(source, head):
    """The text of the function starting with `head` (up to its matching closing brace)."""
    start = source.index(head)
    i = source.index("{", start)
    depth = 0
    while True:
        if source[i] == "{":
            depth += 1
        elif source[i] == "}":
            depth -= 1
            if depth == 0:
                return source[start:i + 1]
        i += 1


def build(quants_c, workdir):
    src = open(quants_c).read()
    # Keep the portable branch of the Apple-linker workaround (it opens a brace in each branch).
    src = re.sub(r"#ifdef HAVE_BUGGY_APPLE_LINKER.*?#else\n(.*?)#endif\n", r"\1", src, flags=re.S)
    body = "\n\n".join(cut(src, f) for f in FUNCTIONS)
    c = os.path.join(workdir, "kquants.c")
    so = os.path.join(workdir, "kquants.so")
    open(c, "w").write(PRELUDE + body)
    subprocess.check_call(["gcc", "-O2", "-ffp-contract=off", "-DNDEBUG", "-std=gnu11", "-shared", "-fPIC", c, "-o", so, "-lm"])
    return ctypes.CDLL(so)


def source_values(rng):
    x = rng.standard_normal((ROWS * COLS // 256, 256)).astype(np.float32)
    x[0] = 0  # all zero
    x[1] = 0.75  # constant
    x[2] = np.abs(x[2]) + 0.1  # all positive: min > 0
    x[3] = -np.abs(x[3]) * 2  # all negative
    x[4, 17] = 40  # one outlier
    x[5] *= 1e-6  # tiny: subnormal half scales
    x[6] *= 3e3  # large
    x[7] = (np.arange(256) % 9 - 4).astype(np.float32)  # small integers: ties after scaling
    x[7, :16] *= 1e-20  # and one sub-block below GROUP_MAX_EPS
    return x.reshape(ROWS, COLS)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rng = np.random.default_rng(22)
    w = gguf.GGUFWriter(OUT, arch="majicflux-test")
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(sys.argv[1], tmp)
        for q in TYPES:
            name = q.name.lower()
            src = source_values(rng)
            block, size = GGML_QUANT_SIZES[q]
            out = np.zeros(src.size // block * size, dtype=np.uint8)
            fn = getattr(lib, f"quantize_row_{name[:2]}_K_ref")
            fn(src.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(src.size))
            raw = out.reshape(ROWS, -1)
            back = gguf.quants.dequantize(raw, q)
            w.add_tensor(f"{name}.source", src)
            w.add_tensor(f"{name}.quantized", raw, raw_dtype=q)
            w.add_tensor(f"{name}.quantized.expected", np.ascontiguousarray(back, dtype=np.float32).reshape(ROWS, COLS))
            err = np.sqrt(((back - src) ** 2).sum() / (src ** 2).sum())
            print(f"{q.name}: {out.size} bytes, relative error {err:.4f}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", OUT)


if __name__ == "__main__":
    main()
