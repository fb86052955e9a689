"""Counts a kernel's SASS instructions by opcode (static, no GPU): the whole kernel and its hottest
loop (the largest backward branch), with the cycles a warp spends on each Hopper issue pipe per
pass (per SM sub-partition: FP32 FMA/FADD/FMUL 1 cycle, MUFU 8, ALU ops 2, conversions 2 or 8).

Usage: python3 Tools/cuda/nvrtc_check.py --arch sm_90a --cubin /tmp/k.cubin
       python3 Tools/cuda/sass_mix.py /tmp/k.cubin KERNEL [--skip START-END ...]
--range START-END (hex addresses from cuobjdump's listing) names the loop where the largest backward
branch is a wait's retry; --skip leaves out ranges inside it: a branch taken only on the last tile."""
import argparse, collections, glob, re, subprocess, sys
ap = argparse.ArgumentParser()
ap.add_argument('cubin'); ap.add_argument('kernel')
ap.add_argument('--skip', nargs='*', default=[])
ap.add_argument('--range', default=None, help='START-END (hex) instead of the largest loop')
ap.add_argument('--list', action='store_true', help='print the loop body')
a = ap.parse_args()
tool = glob.glob('/work/venv/lib/python3*/site-packages/nvidia/cu13/bin/cuobjdump')[0]
out = subprocess.run([tool, '-sass', '-fun', a.kernel, a.cubin], capture_output=True, text=True).stdout
ins = []
for line in out.split('\n'):
    m = re.match(r'\s*/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)\s*(.*?);', line)
    if m:
        ins.append((int(m.group(1), 16), m.group(3), m.group(4)))
# The pipe a warp instruction occupies and for how many cycles of one sub-partition (CUDA C
# Programming Guide's throughput table for compute capability 9.0, per SM / 4).
PIPE = {'FFMA': ('fma', 1), 'FADD': ('fma', 1), 'FMUL': ('fma', 1), 'HFMA2': ('fma', 1), 'HADD2': ('fma', 1),
        'HMUL2': ('fma', 1), 'IMAD': ('fma', 2), 'FMNMX': ('alu', 2), 'FSEL': ('alu', 2), 'FSETP': ('alu', 2),
        'ISETP': ('alu', 2), 'LOP3': ('alu', 2), 'SHF': ('alu', 2), 'IADD3': ('alu', 2), 'VIADD': ('alu', 2),
        'SEL': ('alu', 2), 'LEA': ('alu', 2), 'PLOP3': ('alu', 2), 'MOV': ('alu', 2), 'HMNMX2': ('alu', 2),
        'MUFU': ('mufu', 8), 'F2FP': ('cvt', 2), 'F2F': ('mufu', 8), 'I2F': ('mufu', 8), 'F2I': ('mufu', 8)}
def mix(rows, title):
    c = collections.Counter(op.split('.')[0] for _, op, _ in rows)
    pipes = collections.Counter()
    for op, n in c.items():
        p, cyc = PIPE.get(op, ('other', 1))
        pipes[p] += n * cyc
    print(f'{title}: {len(rows)} instructions')
    print('  ' + ', '.join(f'{op} {n}' for op, n in c.most_common(24)))
    print('  cycles a warp holds each pipe: ' + ', '.join(f'{p} {n}' for p, n in pipes.most_common()))
mix(ins, 'whole kernel')
back = [(addr, int(t.split()[-1].rstrip(';').replace('0x', ''), 16)) for addr, op, t in ins
        if op.startswith('BRA') and re.search(r'0x[0-9a-f]+\s*$', t)]
loops = [(addr - tgt, tgt, addr) for addr, tgt in [(x, int(re.search(r'0x([0-9a-f]+)', t).group(1), 16)) for x, op, t in ins
        if op.startswith('BRA') and re.search(r'0x[0-9a-f]+', t)] if tgt < addr]
if a.range:
    lo, hi = (int(x, 16) for x in a.range.split('-'))
elif loops:
    _, lo, hi = max(loops)
else:
    sys.exit(0)
skips = [tuple(int(x, 16) for x in s.split('-')) for s in a.skip]
body = [r for r in ins if lo <= r[0] <= hi and not any(s <= r[0] < e for s, e in skips)]
mix(body, f'loop {lo:#x}-{hi:#x}' + (f' without {", ".join(a.skip)}' if skips else ''))
if a.list:
    for addr, op, t in body:
        print(f'{addr:#06x} {op} {t}')
