"""Compiles the CUDA kernel sources embedded in Sources/Tensor/CUDA/CUDAKernels*.swift with NVRTC
(no GPU needed) and prints the log. Usage: python3 Tools/cuda/nvrtc_check.py [path/to/libnvrtc.so]"""
import ctypes, glob, re, sys
root = __file__.rsplit('/Tools/', 1)[0]
order = ['common', 'elementwise', 'rows', 'conv', 'attention', 'flash', 'fused']
parts = {}
for f in glob.glob(root + '/Sources/Tensor/CUDA/CUDAKernels*.swift'):
    for m in re.finditer(r'static let (\w+) = #"""\n(.*?)"""#', open(f).read(), re.S):
        parts[m.group(1)] = m.group(2)
src = ''.join(parts[k] for k in order)
lib = sys.argv[1] if len(sys.argv) > 1 else glob.glob('/work/venv/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so*')[0]
nv = ctypes.CDLL(lib)
prog = ctypes.c_void_p()
assert nv.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), b'kernels.cu', 0, None, None) == 0
opts = [b'--gpu-architecture=compute_90', b'--std=c++17', b'-default-device', b'-lineinfo']
arr = (ctypes.c_char_p * len(opts))(*opts)
rc = nv.nvrtcCompileProgram(prog, len(opts), arr)
n = ctypes.c_size_t(); nv.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
log = ctypes.create_string_buffer(n.value); nv.nvrtcGetProgramLog(prog, log)
print(log.value.decode())
nv.nvrtcGetPTXSize(prog, ctypes.byref(n)); print('rc', rc, 'ptx bytes', n.value)
sys.exit(rc)
