"""PyTorch side of the full-size T5-XXL benchmark (BENCHMARKS.md): transformers.T5EncoderModel from the
folder written by make_big_random_checkpoints.py, bf16 weights, the same 512 ids as big-model-bench t5.

Compute dtype: bf16 by default (the weights' dtype; an f32 copy of 4.7B parameters would need 19 GB and
not fit next to the system on a 24 GiB machine). Prints load time, encode time (best of --repeats),
process CPU time and peak RSS (VmHWM), and, with --compare OURS.safetensors (big-model-bench t5 --save),
the relative difference of the two last hidden states.
--layers N --dtype f32 runs the first N blocks in f32 (the numerics check against big-model-bench t5
--layers N: random full-size weights make the 24-block output chaotic, see BENCHMARKS.md).
Run: /work/venv/bin/python Tools/bench_big_t5_reference.py DIR [--tokens 512] [--threads 2] [--repeats 1]
"""
import argparse, json, resource, time

import torch
from transformers import T5EncoderModel


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024 / 1024
    return -1.0


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--tokens", type=int, default=512)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--repeats", type=int, default=1)
p.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
p.add_argument("--compare")
p.add_argument("--layers", type=int, help="only the first N blocks (numerics check with --dtype f32)")
a = p.parse_args()
torch.set_num_threads(a.threads)
dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32

t0, c0 = time.time(), cpu()
kw = {"num_layers": a.layers} if a.layers else {}
model = T5EncoderModel.from_pretrained(a.dir, torch_dtype=dtype, **kw).eval()
load_s, load_cpu = time.time() - t0, cpu() - c0
dtypes = sorted({str(p.dtype) for p in model.parameters()})
print(f"loaded in {load_s:.2f} s ({load_cpu:.2f} s CPU), RSS {status('VmRSS'):.2f} GiB, parameter dtypes {dtypes}", flush=True)

vocab = model.config.vocab_size
ids = [(i * 7919 + 13) % vocab for i in range(a.tokens)]
ids[-1] = 1
x = torch.tensor([ids])
best = None
with torch.inference_mode():
    for _ in range(a.repeats):
        t0, c0 = time.time(), cpu()
        h = model(input_ids=x).last_hidden_state
        wall, c = time.time() - t0, cpu() - c0
        if best is None or wall < best[0]:
            best = (wall, c)
h = h.float()
out = {"bench": "t5-encode-torch", "tokens": a.tokens, "dtype": a.dtype, "threads": a.threads,
       "load_s": load_s, "wall_s": best[0], "cpu_s": best[1], "peak_rss_gib": status("VmHWM"),
       "rss_anon_gib": status("RssAnon"), "rss_file_gib": status("RssFile"),
       "output_rms": h.pow(2).mean().sqrt().item(), "torch": torch.__version__, "param_dtypes": dtypes}
if a.compare:
    from safetensors.torch import load_file
    ours = load_file(a.compare)["hidden"].float()
    out["rel_diff_vs_ours"] = ((h - ours).norm() / ours.norm()).item()
    out["max_abs_diff_vs_ours"] = (h - ours).abs().max().item()
print(f"encode {a.tokens} tokens: {best[0]:.2f} s wall, {best[1]:.2f} s CPU, peak RSS {status('VmHWM'):.2f} GiB", flush=True)
print(json.dumps(out))
