"""Counts a kernel's SASS instructions by opcode (static, no GPU): the whole kernel and one loop, with
the cycles a warp holds each Hopper pipe per pass of it (per SM sub-partition, from the CUDA C
Programming Guide's throughput table for compute capability 9.0: FP32 FMA/FADD/FMUL 1 cycle, MUFU 8,
ALU ops 2, F2FP conversions 2). A model for comparing kernels, not a measurement.

Needs cuobjdump (`pip install "nvidia-cuda-cuobjdump>=13,<14"` into the venv that holds NVRTC).
Usage: python3 Tools/cuda/nvrtc_check.py --arch sm_90a --cubin /tmp/k.cubin
       python3 Tools/cuda/sass_mix.py /tmp/k.cubin KERNEL [--range START-END] [--skip START-END ...] [--list]
The loop is the largest backward branch unless --range names it (hex addresses from the listing; a
wait's retry branch can be the largest); --skip leaves out ranges inside it, e.g. a branch taken
only on the last tile."""
import argparse, collections, glob, re, subprocess, sys
ap = argparse.ArgumentParser()
ap.add_argument('cubin'); ap.add_argument('kernel')
ap.add_argument('--range', default=None, help='START-END (hex) instead of the largest loop')
ap.add_argument('--skip', nargs='*', default=[])
ap.add_argument('--list', action='store_true', help='print the loop body')
a = ap.parse_args()
tool = glob.glob('/work/venv/lib/python3*/site-packages/nvidia/cu13/bin/cuobjdump')[0]
out = subprocess.run([tool, '-sass', '-fun', a.kernel, a.cubin], capture_output=True, text=True).stdout
ins = []  # (address, opcode, operands)
for line in out.split('\n'):
    m = re.match(r'\s*/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)\s*(.*?);', line)
    if m:
        ins.append((int(m.group(1), 16), m.group(3), m.group(4)))
if not ins:
    sys.exit(f'no SASS for {a.kernel} in {a.cubin}')
PIPE = {'FFMA': ('fma', 1), 'FADD': ('fma', 1), 'FMUL': ('fma', 1), 'HFMA2': ('fma', 1), 'HADD2': ('fma', 1),
        'HMUL2': ('fma', 1), 'IMAD': ('fma', 2), 'FMNMX': ('alu', 2), 'FSEL': ('alu', 2), 'FSETP': ('alu', 2),
        'ISETP': ('alu', 2), 'LOP3': ('alu', 2), 'SHF': ('alu', 2), 'IADD3': ('alu', 2), 'VIADD': ('alu', 2),
        'SEL': ('alu', 2), 'LEA': ('alu', 2), 'PLOP3': ('alu', 2), 'MOV': ('alu', 2), 'HMNMX2': ('alu', 2),
        'PRMT': ('alu', 2), 'MUFU': ('mufu', 8), 'F2FP': ('cvt', 2), 'F2F': ('mufu', 8), 'I2F': ('mufu', 8),
        'F2I': ('mufu', 8)}

def mix(rows, title):
    c = collections.Counter(op.split('.')[0] for _, op, _ in rows)
    pipes = collections.Counter()
    for op, n in c.items():
        p, cycles = PIPE.get(op, ('other', 1))
        pipes[p] += n * cycles
    print(f'{title}: {len(rows)} instructions')
    print('  ' + ', '.join(f'{op} {n}' for op, n in c.most_common(24)))
    print('  cycles a warp holds each pipe: ' + ', '.join(f'{p} {n}' for p, n in pipes.most_common()))

mix(ins, 'whole kernel')
if a.range:
    lo, hi = (int(x, 16) for x in a.range.split('-'))
else:
    loops = []
    for addr, op, operands in ins:
        target = re.search(r'0x([0-9a-f]+)', operands)
        if op.startswith('BRA') and target and int(target.group(1), 16) < addr:
            loops.append((addr - int(target.group(1), 16), int(target.group(1), 16), addr))
    if not loops:
        sys.exit(0)
    _, lo, hi = max(loops)
skips = [tuple(int(x, 16) for x in s.split('-')) for s in a.skip]
body = [r for r in ins if lo <= r[0] <= hi and not any(s <= r[0] < e for s, e in skips)]
mix(body, f'loop {lo:#x}-{hi:#x}' + (f' without {", ".join(a.skip)}' if skips else ''))
if a.list:
    for addr, op, operands in body:
        print(f'{addr:#06x} {op} {operands}')
