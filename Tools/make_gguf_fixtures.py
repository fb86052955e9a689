#!/usr/bin/env python3
"""GGUF fixtures, written and quantized by the reference `gguf` package (PyPI, llama.cpp's gguf-py).

Writes
- Tests/QuantTests/Fixtures/gguf/blocks.gguf: per ggml type T (F32, F16, BF16, Q8_0, Q5_0, Q5_1, Q4_0,
  Q4_1, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K):
    `T.random`, `T.random.expected`: blocks of random bytes whose f16 scales are random finite values,
        and `gguf.quants.dequantize` of them (F32);
  and for the types `gguf.quants.quantize` implements (all but the k-quants):
    `T.source`: random f32 values with edge blocks (zeros, ties, a negative extreme, tiny and huge
        magnitudes), `T.quantized`: `gguf.quants.quantize(source, T)`, `T.quantized.expected`: its
        dequantization.
  Shapes are [4, 256] (4 rows of one k-quant super-block or 8 legacy blocks).
- Tests/ModelsTests/Fixtures/gguf/tiny-flux-dit-{f32,q8_0}.gguf: the tiny DiT
  (Tests/ModelsTests/Fixtures/tiny-flux-dit-comfy.safetensors, BFL names under ComfyUI's
  `model.diffusion_model.` prefix) converted as city96's ComfyUI-GGUF tools/convert.py does: bf16 -> f32,
  1-D tensors and the embedders / final layer (its "blacklist") F32, the rest the target type, F32
  where the rows are not whole blocks. The q8_0 file drops the prefix (BFL names, as most published
  files), the f32 file keeps it.
- Tests/ModelsTests/Fixtures/gguf/tiny-t5-llamacpp.gguf: the tiny T5 encoder
  (Tests/ModelsTests/Fixtures/tiny-flux/text_encoder_2) under llama.cpp's names (gguf-py tensor_mapping:
  token_embd, enc.blk.N.attn_q / attn_k / attn_v / attn_o / attn_rel_b / attn_norm / ffn_gate (wi_0) /
  ffn_up (wi_1) / ffn_down / ffn_norm, enc.output_norm), 2-D tensors BF16 (as stored), 1-D F32.

Run from the repository root: /work/venv/bin/python Tools/make_gguf_fixtures.py

`--check OUT.gguf SOURCE.safetensors TYPE` instead reads a file written by `majicflux quantize --format
gguf-TYPE` with gguf.GGUFReader: every tensor's name, shape and data, the TYPE tensors' bytes against
`gguf.quants.quantize` of the source (bit-identical expected), the others' values against the source.
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUANT_OUT = os.path.join(ROOT, "Tests/QuantTests/Fixtures/gguf")
MODELS_OUT = os.path.join(ROOT, "Tests/ModelsTests/Fixtures/gguf")
MODELS_FIXTURES = os.path.join(ROOT, "Tests/ModelsTests/Fixtures")

DEQUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q5_0, T.Q5_1, T.Q4_0, T.Q4_1, T.Q6_K, T.Q5_K, T.Q4_K, T.Q3_K, T.Q2_K]
QUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q5_0, T.Q5_1, T.Q4_0, T.Q4_1]
ROWS, COLS = 4, 256

# Byte offsets of the f16 scales in each block (random bytes there could be NaN / inf).
HALF_FIELDS = {
    T.Q8_0: [0], T.Q5_0: [0], T.Q4_0: [0], T.Q5_1: [0, 2], T.Q4_1: [0, 2],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(qtype, rng):
    """[ROWS, row bytes] of random bytes with finite f16 scales of moderate size."""
    block, size = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        return rng.standard_normal((ROWS, COLS)).astype(np.float32)
    if qtype == T.F16:
        return rng.standard_normal((ROWS, COLS)).astype(np.float16)
    if qtype == T.BF16:
        v = rng.standard_normal((ROWS, COLS)).astype(np.float32).view(np.uint32)
        return (v >> 16).astype(np.uint16).view(np.uint8).reshape(ROWS, COLS * 2)
    n = ROWS * COLS // block
    b = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    for off in HALF_FIELDS[qtype]:
        h = (rng.standard_normal(n) * 0.05).astype(np.float16)
        h[0] = np.float16(0.0)  # a zero scale
        h[1] = np.float16(6.1e-6)  # a subnormal scale
        b[:, off:off + 2] = h.view(np.uint8).reshape(n, 2)
    return b.reshape(ROWS, -1)


def source_values(rng):
    x = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    flat = x.reshape(-1, 32)
    flat[0] = 0  # all zero: d = 0
    flat[1] = np.arange(32, dtype=np.float32) - 16  # integers: exact ties after scaling
    flat[2] = -np.abs(flat[2]) * 3  # all negative, the extreme negative
    flat[3] = flat[3] * 1e-7  # tiny: subnormal f16 scales
    flat[4] = flat[4] * 3e4  # large
    flat[5] = np.linspace(-1, 1, 32, dtype=np.float32)  # symmetric, both extremes at once
    flat[6] = np.float32(0.5) * np.sign(flat[6])  # equal magnitudes: first-argmax ties
    return x


def write_blocks(rng):
    w = gguf.GGUFWriter(os.path.join(QUANT_OUT, "blocks.gguf"), arch="majicflux-test")
    for q in DEQUANT_TYPES:
        name = q.name.lower()
        raw = random_blocks(q, rng)
        w.add_tensor(f"{name}.random", raw, raw_dtype=q)
        expected = gguf.quants.dequantize(raw.reshape(-1).view(np.uint8).reshape(ROWS, -1) if q not in (T.F32, T.F16) else raw, q)
        w.add_tensor(f"{name}.random.expected", np.ascontiguousarray(expected, dtype=np.float32).reshape(ROWS, COLS))
        if q in QUANT_TYPES:
            src = source_values(rng)
            quantized = gguf.quants.quantize(src, q)
            w.add_tensor(f"{name}.source", src)
            w.add_tensor(f"{name}.quantized", quantized, raw_dtype=q)
            back = gguf.quants.dequantize(quantized, q)
            w.add_tensor(f"{name}.quantized.expected", np.ascontiguousarray(back, dtype=np.float32).reshape(ROWS, COLS))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


CITY96_BLACKLIST = ["time_in.", "txt_in.", "vector_in.", "img_in.", "guidance_in.", "final_layer."]


def write_dit(qtype, keep_prefix):
    path = os.path.join(MODELS_FIXTURES, "tiny-flux-dit-comfy.safetensors")
    out = os.path.join(MODELS_OUT, f"tiny-flux-dit-{qtype.name.lower()}.gguf")
    w = gguf.GGUFWriter(out, arch="flux")
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == T.Q8_0 else gguf.LlamaFileType.ALL_F32)
    with safe_open(path, "pt") as f:
        for key in sorted(f.keys()):
            data = f.get_tensor(key).float().numpy()
            name = key if keep_prefix else key.removeprefix("model.diffusion_model.")
            t = qtype
            if data.ndim == 1 or (any(b in key for b in CITY96_BLACKLIST) and ".weight" in key):
                t = T.F32
            try:
                q = gguf.quants.quantize(data, t)
            except gguf.QuantError:
                t = T.F32
                q = gguf.quants.quantize(data, t)
            w.add_tensor(name, q, raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


T5_BLOCK = {
    "layer.0.layer_norm": "attn_norm", "layer.0.SelfAttention.q": "attn_q", "layer.0.SelfAttention.k": "attn_k",
    "layer.0.SelfAttention.v": "attn_v", "layer.0.SelfAttention.o": "attn_o",
    "layer.0.SelfAttention.relative_attention_bias": "attn_rel_b", "layer.1.layer_norm": "ffn_norm",
    "layer.1.DenseReluDense.wi_0": "ffn_gate", "layer.1.DenseReluDense.wi_1": "ffn_up",
    "layer.1.DenseReluDense.wo": "ffn_down",
}


def llama_cpp_t5_name(hf):
    if hf == "shared.weight":
        return "token_embd.weight"
    if hf == "encoder.final_layer_norm.weight":
        return "enc.output_norm.weight"
    if hf == "encoder.embed_tokens.weight":
        return None  # tied to shared.weight: llama.cpp keeps one
    parts = hf.split(".")
    assert parts[0] == "encoder" and parts[1] == "block", hf
    inner = ".".join(parts[3:-1])
    return f"enc.blk.{parts[2]}.{T5_BLOCK[inner]}.weight"


def write_t5():
    path = os.path.join(MODELS_FIXTURES, "tiny-flux/text_encoder_2/model.safetensors")
    out = os.path.join(MODELS_OUT, "tiny-t5-llamacpp.gguf")
    w = gguf.GGUFWriter(out, arch="t5encoder")
    w.add_context_length(512)
    w.add_embedding_length(32)
    w.add_feed_forward_length(64)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_key_length(8)
    w.add_value_length(8)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_relative_attn_buckets_count(32)
    with safe_open(path, "pt") as f:
        for key in sorted(f.keys()):
            name = llama_cpp_t5_name(key)
            if name is None:
                continue
            t = f.get_tensor(key)
            if t.ndim == 1:
                w.add_tensor(name, t.float().numpy())
            else:
                raw = t.view(dtype=__import__("torch").int16).numpy().view(np.uint8)
                w.add_tensor(name, raw.reshape(t.shape[0], -1), raw_dtype=T.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def check(path, source, qname):
    qtype = T[qname.upper()]
    r = gguf.GGUFReader(path)
    arch = r.get_field("general.architecture")
    print("read", path, "with gguf.GGUFReader:", len(r.tensors), "tensors, architecture",
          bytes(arch.parts[arch.data[0]]).decode() if arch else None)
    same = differ = kept = bad = 0
    with safe_open(source, "pt") as f:
        assert sorted(f.keys()) == sorted(t.name for t in r.tensors), "names differ"
        for t in r.tensors:
            src = f.get_tensor(t.name).float().numpy()
            shape = tuple(int(d) for d in reversed(t.shape))
            assert shape == src.shape, (t.name, shape, src.shape)
            if t.tensor_type == qtype:
                want = gguf.quants.quantize(src, qtype)
                if np.array_equal(np.asarray(t.data).view(np.uint8).reshape(-1), np.asarray(want).view(np.uint8).reshape(-1)):
                    same += 1
                else:
                    differ += 1
                    print("  bytes differ:", t.name)
            else:
                got = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(src.shape)
                if np.array_equal(got, src):
                    kept += 1
                else:
                    bad += 1
                    print("  values differ:", t.name, t.tensor_type.name)
    print(f"{qtype.name}: {same} tensors bit-identical to gguf.quants.quantize, {differ} differ; "
          f"{kept} other tensors hold the source values, {bad} do not")
    return 0 if differ == 0 and bad == 0 else 1


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--check":
        return check(sys.argv[2], sys.argv[3], sys.argv[4])
    os.makedirs(QUANT_OUT, exist_ok=True)
    os.makedirs(MODELS_OUT, exist_ok=True)
    print("gguf", gguf.__version__ if hasattr(gguf, "__version__") else "?", "numpy", np.__version__)
    write_blocks(np.random.default_rng(22))
    write_dit(T.F32, keep_prefix=True)
    write_dit(T.Q8_0, keep_prefix=False)
    write_t5()
    for d in (QUANT_OUT, MODELS_OUT):
        for n in sorted(os.listdir(d)):
            print(os.path.join(d, n), os.path.getsize(os.path.join(d, n)), "bytes")


if __name__ == "__main__":
    sys.exit(main())
