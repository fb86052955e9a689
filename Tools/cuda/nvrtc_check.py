"""Compiles the CUDA kernel sources embedded in Sources/Tensor/CUDA/CUDAKernels*.swift with NVRTC
(no GPU needed) and prints the log.

Usage: python3 Tools/cuda/nvrtc_check.py [--arch compute_90|sm_90|sm_90a] [--lib path/to/libnvrtc.so] [--kernel NAME]
With an sm_* arch NVRTC also runs ptxas and the log lists registers and spills per kernel
(--kernel keeps only the lines of kernels whose name contains NAME). sm_90a compiles the Hopper
(wgmma) flash kernel, which the other targets leave out. --cubin FILE writes the CUBIN (sm_* only) for
nvdisasm (Tools/cuda/sass_mix.py counts a kernel's instructions from it)."""
import argparse, ctypes, glob, re, sys
ap = argparse.ArgumentParser()
ap.add_argument('--arch', default='compute_90')
ap.add_argument('--lib', default=None)
ap.add_argument('--kernel', default=None)
ap.add_argument('--cubin', default=None)
a = ap.parse_args()
root = __file__.rsplit('/Tools/', 1)[0]
# The module's parts in CUDAKernelSource.all's order, read from the Swift source (one list to keep).
order = [w.strip() for w in re.search(r'\[(common,[^\]]*)\]\.joined', open(root + '/Sources/Tensor/CUDA/CUDAKernels+Common.swift').read()).group(1).split(',')]
parts = {}
for f in glob.glob(root + '/Sources/Tensor/CUDA/CUDAKernels*.swift'):
    for m in re.finditer(r'static let (\w+) = #"""\n(.*?)"""#', open(f).read(), re.S):
        parts[m.group(1)] = m.group(2)
src = '\n'.join(parts[k] for k in order)
lib = a.lib or glob.glob('/work/venv/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so*')[0]
nv = ctypes.CDLL(lib)
prog = ctypes.c_void_p()
assert nv.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), b'kernels.cu', 0, None, None) == 0
opts = [b'--gpu-architecture=' + a.arch.encode(), b'--std=c++17', b'-default-device', b'-lineinfo']
if a.arch.startswith('sm_'):
    opts.append(b'--ptxas-options=-v')
arr = (ctypes.c_char_p * len(opts))(*opts)
rc = nv.nvrtcCompileProgram(prog, len(opts), arr)
n = ctypes.c_size_t(); nv.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
log = ctypes.create_string_buffer(n.value); nv.nvrtcGetProgramLog(prog, log)
text = log.value.decode()
if a.kernel:
    lines, keep = text.split('\n'), []
    for i, l in enumerate(lines):
        if ("entry function '" in l and a.kernel in l) or 'error' in l or 'arning' in l:
            keep += lines[i:i + 4]
    text = '\n'.join(keep)
print(text)
nv.nvrtcGetPTXSize(prog, ctypes.byref(n)); print('rc', rc, 'ptx bytes', n.value)
if a.cubin and rc == 0:
    nv.nvrtcGetCUBINSize(prog, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value); nv.nvrtcGetCUBIN(prog, buf)
    open(a.cubin, 'wb').write(buf.raw)
sys.exit(rc)
