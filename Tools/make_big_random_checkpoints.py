"""Full-size random-weight checkpoints for the CPU memory/time proofs (BENCHMARKS.md, issue 10 / 4).

Writes safetensors files tensor by tensor (header first, then each tensor generated and written on its
own), so the whole model is never in memory: peak RSS of this script is the largest tensor (~260 MB).

  flux  -> OUT/flux1-dev-fp8-random.safetensors (~11.9 GB)
           FLUX.1-dev sizes in BFL names (19 double + 38 single blocks, hidden 3072, 24 heads x 128,
           MLP 12288, context 4096, pooled 768, guidance embedder). Block Linear weights are float8
           e4m3fn with a ComfyUI-style per-layer `scale_weight` (f32 scalar) and a `scaled_fp8` marker,
           the layout of majicflus_v134 without its `model.diffusion_model.` prefix; everything else bf16.
  t5    -> OUT/t5-xxl/{config.json, model.safetensors} (~9.5 GB)
           google/t5-v1_1-xxl encoder (T5EncoderModel keys, bf16): d_model 4096, 24 layers, 64 heads,
           d_kv 64, d_ff 10240, vocab 32128. Loadable by transformers.T5EncoderModel.from_pretrained.

Values are Gaussian with std 1/sqrt(fan_in) (norm scales 1), so activations stay O(1).
Usage: python Tools/make_big_random_checkpoints.py {flux|t5} OUT_DIR
"""
import json
import os
import struct
import sys

import torch

DT = {torch.bfloat16: "BF16", torch.float32: "F32", torch.float8_e4m3fn: "F8_E4M3"}
SIZE = {torch.bfloat16: 2, torch.float32: 4, torch.float8_e4m3fn: 1}


def write_streamed(path, specs, metadata):
    """specs: list of (name, shape, dtype, make) where make() returns the tensor; written in order."""
    header, off = {}, 0
    for name, shape, dtype, _ in specs:
        n = SIZE[dtype]
        for s in shape:
            n *= s
        header[name] = {"dtype": DT[dtype], "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for i, (name, shape, dtype, make) in enumerate(specs):
            t = make().contiguous()
            assert list(t.shape) == list(shape) and t.dtype == dtype, (name, t.shape, t.dtype)
            f.write(t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.float32 else t.numpy().tobytes())
            if i % 50 == 0:
                print(f"{i}/{len(specs)} {name} ({f.tell() / 1e9:.2f} GB)", flush=True)
    os.replace(tmp, path)
    print(f"wrote {path}: {off / 1e9:.2f} GB of tensor data, {len(specs)} tensors", flush=True)


gen = torch.Generator().manual_seed(0)


def dense(shape, dtype=torch.bfloat16, std=None):
    fan_in = shape[-1] if len(shape) > 1 else 1
    s = std if std is not None else fan_in ** -0.5
    return lambda: (torch.randn(*shape, generator=gen) * s).to(dtype)


def ones(shape, dtype=torch.bfloat16):
    return lambda: torch.ones(*shape, dtype=dtype)


def flux_specs():
    d, mlp, heads_dim = 3072, 12288, 128
    specs = []

    def lin(name, out, inp, fp8):
        if fp8:
            # fp8 codes ~N(0, 1) clipped to the e4m3fn range; the layer's value is codes * scale_weight.
            specs.append((f"{name}.weight", (out, inp), torch.float8_e4m3fn,
                          lambda: torch.randn(out, inp, generator=gen).clamp_(-448, 448).to(torch.float8_e4m3fn)))
            specs.append((f"{name}.scale_weight", (), torch.float32, lambda: torch.tensor(inp ** -0.5)))
        else:
            specs.append((f"{name}.weight", (out, inp), torch.bfloat16, dense((out, inp))))
        specs.append((f"{name}.bias", (out,), torch.bfloat16, dense((out,), std=0.02)))

    lin("img_in", d, 64, False)
    lin("txt_in", d, 4096, False)
    for e, i in [("time_in", 256), ("vector_in", 768), ("guidance_in", 256)]:
        lin(f"{e}.in_layer", d, i, False)
        lin(f"{e}.out_layer", d, d, False)
    for n in range(19):
        b = f"double_blocks.{n}"
        for s in ["img", "txt"]:
            lin(f"{b}.{s}_mod.lin", 6 * d, d, True)
            lin(f"{b}.{s}_attn.qkv", 3 * d, d, True)
            for k in ["query_norm", "key_norm"]:
                specs.append((f"{b}.{s}_attn.norm.{k}.scale", (heads_dim,), torch.bfloat16, ones((heads_dim,))))
            lin(f"{b}.{s}_attn.proj", d, d, True)
            lin(f"{b}.{s}_mlp.0", mlp, d, True)
            lin(f"{b}.{s}_mlp.2", d, mlp, True)
    for n in range(38):
        b = f"single_blocks.{n}"
        lin(f"{b}.linear1", 3 * d + mlp, d, True)
        lin(f"{b}.linear2", d, d + mlp, True)
        lin(f"{b}.modulation.lin", 3 * d, d, True)
        for k in ["query_norm", "key_norm"]:
            specs.append((f"{b}.norm.{k}.scale", (heads_dim,), torch.bfloat16, ones((heads_dim,))))
    lin("final_layer.adaLN_modulation.1", 2 * d, d, False)
    lin("final_layer.linear", 64, d, False)
    specs.append(("scaled_fp8", (0,), torch.float8_e4m3fn, lambda: torch.zeros(0, dtype=torch.float8_e4m3fn)))
    return specs


T5_CONFIG = {
    "architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 4096, "d_kv": 64, "d_ff": 10240,
    "num_heads": 64, "num_layers": 24, "vocab_size": 32128, "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu_new", "is_gated_act": True, "dropout_rate": 0.1, "initializer_factor": 1.0,
    "is_encoder_decoder": True, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_cache": True, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
}


def t5_specs():
    c = T5_CONFIG
    d, inner, ff = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"]
    specs = [("shared.weight", (c["vocab_size"], d), torch.bfloat16, dense((c["vocab_size"], d), std=1.0))]
    for n in range(c["num_layers"]):
        p = f"encoder.block.{n}.layer"
        for x in "qkvo":
            specs.append((f"{p}.0.SelfAttention.{x}.weight", (d, inner), torch.bfloat16, dense((d, inner))))
        if n == 0:
            specs.append((f"{p}.0.SelfAttention.relative_attention_bias.weight", (32, c["num_heads"]),
                          torch.bfloat16, dense((32, c["num_heads"]), std=0.5)))
        specs.append((f"{p}.0.layer_norm.weight", (d,), torch.bfloat16, ones((d,))))
        for x in ["wi_0", "wi_1"]:
            specs.append((f"{p}.1.DenseReluDense.{x}.weight", (ff, d), torch.bfloat16, dense((ff, d))))
        specs.append((f"{p}.1.DenseReluDense.wo.weight", (d, ff), torch.bfloat16, dense((d, ff))))
        specs.append((f"{p}.1.layer_norm.weight", (d,), torch.bfloat16, ones((d,))))
    specs.append(("encoder.final_layer_norm.weight", (d,), torch.bfloat16, ones((d,))))
    return specs


if __name__ == "__main__":
    torch.set_num_threads(1)
    what, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if what == "flux":
        write_streamed(os.path.join(out, "flux1-dev-fp8-random.safetensors"), flux_specs(), {"format": "pt"})
    elif what == "t5":
        d = os.path.join(out, "t5-xxl")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(T5_CONFIG, f, indent=2)
        write_streamed(os.path.join(d, "model.safetensors"), t5_specs(), {"format": "pt"})
    else:
        sys.exit("usage: make_big_random_checkpoints.py {flux|t5} OUT_DIR")
