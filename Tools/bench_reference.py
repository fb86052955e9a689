#!/usr/bin/env python3
"""Reference timings for Examples/TensorBench: the same shapes in numpy and PyTorch, same thread count.

Run (from the repo root, after `swift build -c release --product tensor-bench`):

    /work/venv/bin/python Tools/bench_reference.py --tensor-bench .build/release/tensor-bench

With --tensor-bench it alternates rounds of `tensor-bench --json` and the reference measurements
(so both sides see the same machine load), keeps the best time of each, and prints a Markdown table
of ours vs numpy vs torch. Without it, only the reference numbers are printed.

Thread counts: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS are set to --threads before
numpy / torch load (and for the tensor-bench child, which also gets --threads), and
torch.set_num_threads(--threads).

Two tables: wall-clock time of the fastest run, and the process CPU time of that run. On a machine
shared with other work, wall time depends on how much of the cores each side happened to get; CPU
time is much less disturbed (it still includes threads spinning while they wait).
Environment variables OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set, affect both OpenBLAS builds
(ours and numpy's); the table header reports them.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of ours / reference")
ap.add_argument("--tensor-bench", default=None, help="path of the tensor-bench executable")
args = ap.parse_args()

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def best(fn, repeats):
    """(wall, cpu) seconds of the fastest of `repeats` runs after a warm-up."""
    fn()  # warm-up
    t = (float("inf"), float("inf"))
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        t1, c1 = time.perf_counter(), time.process_time()
        if t1 - t0 < t[0]:
            t = (t1 - t0, c1 - c0)
    return t


def numpy_blas():
    try:
        import ctypes, glob
        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
        lib = ctypes.CDLL(libs[0])
        f = lib.scipy_openblas_get_config64_
        f.restype = ctypes.c_char_p
        return f().decode()
    except Exception as e:  # pragma: no cover
        return f"unknown ({e})"


def reference(repeats):
    res = {}
    for m, n, k in [(1024, 1024, 1024), (4096, 4096, 1024)]:
        name = f"matmul {m}x{n}x{k} (MxNxK)"
        a = np.random.default_rng(1).standard_normal((m, k), dtype=np.float32)
        b = np.random.default_rng(2).standard_normal((k, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        res[name] = {"numpy": best(lambda: a @ b, repeats), "torch": best(lambda: ta @ tb, repeats)}
    h, l, d = 24, 4608, 128
    q, k, v = (torch.randn(1, h, l, d) for _ in range(3))
    with torch.no_grad():
        res[f"attention 1x{h}x{l}x{d}"] = {"torch": best(lambda: F.scaled_dot_product_attention(q, k, v), min(repeats, 3))}
        x, w, bias = torch.randn(4608, 3072), torch.randn(3072, 3072), torch.randn(3072)
        res["linear 4608x3072->3072 f32 weight"] = {
            "torch": best(lambda: F.linear(x, w, bias), repeats),
            "numpy": best(lambda: x.numpy() @ w.numpy().T + bias.numpy(), repeats)}
        x, w, bias = torch.randn(1, 128, 256, 256), torch.randn(128, 128, 3, 3), torch.randn(128)
        res["conv2d 3x3 128->128 at 256x256"] = {"torch": best(lambda: F.conv2d(x, w, bias, padding=1), repeats)}
    return res


def ours(path, repeats):
    out = subprocess.run([path, "--json", "--repeats", str(repeats), "--threads", str(args.threads)],
                         check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {r["name"]: r for r in data["results"]}


best_ref, best_ours = {}, {}
for r in range(args.rounds):
    if args.tensor_bench:
        for name, row in ours(args.tensor_bench, args.repeats).items():
            prev = best_ours.get(name)
            if prev is None or row["seconds"] < prev["seconds"]:
                best_ours[name] = row
    for name, row in reference(args.repeats).items():
        cur = best_ref.setdefault(name, {})
        for lib, t in row.items():
            if lib not in cur or t[0] < cur[lib][0]:
                cur[lib] = t

print(f"threads {args.threads}; best of {args.repeats} x {args.rounds} rounds; "
      f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
      f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
print(f"numpy {np.__version__} ({numpy_blas()}); torch {torch.__version__} "
      f"(MKL {torch.backends.mkl.is_available()}, {torch.backends.cpu.get_cpu_capability()}); "
      f"python {platform.python_version()}")
print()
names = list(best_ours) if best_ours else list(best_ref)
names += [n for n in best_ref if n not in names]
for title, col, okey in (("wall-clock", 0, "seconds"), ("process CPU time", 1, "cpu_seconds")):
    print(f"{title}, best run (ms):\n")
    print("| op | ours | numpy | torch | ours GFLOP/s | ours / numpy | ours / torch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        o = best_ours.get(name)
        ot = o[okey] if o else None
        ref = best_ref.get(name, {})
        nt = ref["numpy"][col] if "numpy" in ref else None
        tt = ref["torch"][col] if "torch" in ref else None
        cell = lambda t: f"{t * 1e3:.1f}" if t is not None else "-"
        ratio = lambda t: f"{ot / t:.2f}" if (ot and t) else "-"
        gf = f"{o['gflop'] / ot:.1f}" if o else "-"
        print(f"| {name} | {cell(ot)} | {cell(nt)} | {cell(tt)} | {gf} | {ratio(nt)} | {ratio(tt)} |")
    print()
print("(ratio = our time / their time: below 1 means ours is faster; GFLOP/s per that column's seconds)")
