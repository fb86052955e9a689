#!/usr/bin/env python3
"""Model of a streamed Flux DiT step under --vram-budget (issue 21, low VRAM): the plan BlockStreamer
makes (Sources/Models/NN/BlockStreamer.swift) and a timeline of its two queues.

  stream_plan_model.py [--budget 6] [--bw 50] [--step-ms 94] [--calibrate]

Block weights are FLUX.1-dev's in fp8 (e4m3 codes, bf16 biases) without the modulation Linears, which
a streaming DiT keeps in host memory (19 double blocks of 226.5 MB, 38 single blocks of 113.3 MB).
Every block does the same 1.30 TFLOP at 1024x1024 (4096 + 512 tokens), so each gets an equal share of
the resident step. The copy queue is one FIFO stream: the copy into a slot waits for the compute
queue to pass the slot's last reader; a block's kernels wait for its copy; the copies for the next
step's first streamed blocks are queued when the last ones of this step are released (wrap-around).
Host queueing is assumed never to be the bottleneck. `--calibrate` replays `cuda-check stream 4`
(BENCHMARKS.md: weights 2.5-8 GiB, 101.06 ms resident, 55.5 GB/s) with the prefix plan.
Standard library only.
"""
import argparse

GIB = 1 << 30
MIB = 1 << 20
D, M, LAYERS, SINGLES, TOKENS = 3072, 12288, 19, 38, 4096 + 512


def block_sizes():
    align = lambda n: (n + 255) // 256 * 256
    def block(linears, norms):
        total = 0
        for rows, cols in linears:  # e4m3 codes, a 4-byte scale, a bf16 bias
            for n in (rows * cols, 4, rows * 2):
                total = align(total) + n
        for n in norms:
            total = align(total) + n
        return total
    half = [(3 * D, D), (D, D), (M, D), (D, M)]  # qkv, proj, mlp up, mlp down
    double = block(half + half, [128 * 2] * 4)
    single = block([(3 * D, D), (M, D), (D, D + M)], [128 * 2] * 2)  # linear1 split in its attention and MLP rows
    return [double] * LAYERS + [single] * SINGLES


def dit_working_bytes(old):
    if old:
        return TOKENS * (3 * D + M) * 2 * 3 + TOKENS * D * 2 * 12 + 128 * MIB
    return TOKENS * (3 * D + M) * 2 * 2 + TOKENS * D * 2 * 8 + 128 * MIB


def plan_prefix(sizes, budget, slots):
    """The longest resident prefix (the plan before this change)."""
    for r in range(len(sizes), -1, -1):
        rest = sizes[r:]
        if sum(sizes[:r]) + min(slots, len(rest)) * (max(rest) if rest else 0) <= budget:
            return [i < r for i in range(len(sizes))]
    return None


def spread(count, chosen):
    """`chosen` of `count` positions, evenly spaced."""
    return [(j + 1) * chosen // count > j * chosen // count for j in range(count)]


def plan_spread(sizes, budget, slots):
    """As BlockStreamer.spreadPlan: slots as large as the largest block (any block may stream); each
    size of block gets its share of the rest of the room in proportion to its bytes, its resident
    ones evenly spaced among its kind; what is left goes to the largest blocks that fit."""
    n = len(sizes)
    if sum(sizes) <= budget:
        return [True] * n
    room = budget - slots * max(sizes)
    if room < 0:
        return None
    total = sum(sizes)
    resident = [False] * n
    left = room
    for size in sorted(set(sizes), reverse=True):
        group = [i for i in range(n) if sizes[i] == size]
        take = min(len(group), int(room * (len(group) * size) / total / size))
        for i, keep in zip(group, spread(len(group), take)):
            if keep:
                resident[i] = True
                left -= size
    for i in sorted(range(n), key=lambda i: -sizes[i]):
        if not resident[i] and sizes[i] <= left:
            resident[i] = True
            left -= sizes[i]
    return resident


def simulate(sizes, resident, slots, block_ms, bw, steps=6, outside_ms=2.0):
    """Steady-state step time (ms) of the two queues; the last of `steps` passes."""
    streamed = [i for i, r in enumerate(resident) if not r]
    n = len(streamed)
    k = min(slots, n)
    copy_ms = {i: sizes[i] / bw / 1e6 for i in streamed}
    pos = {b: j for j, b in enumerate(streamed)}
    copy_free = 0.0             # when the copy stream is next idle
    loaded = {}                 # (pass, position) -> copy done
    released = {}               # slot -> when its last reader finished
    compute = 0.0
    queued = []                 # copies in queue order: (pass, position)
    # Copies queued at place(): the first k streamed blocks of pass 0.
    def run_copy(p, j):
        nonlocal copy_free
        s = j % k
        start = max(copy_free, released.get(s, 0.0))
        copy_free = start + copy_ms[streamed[j]]
        loaded[(p, j)] = copy_free
    for j in range(k):
        run_copy(0, j)
    starts = []
    for p in range(steps):
        starts.append(compute)
        compute += outside_ms / 2
        for i in range(len(sizes)):
            if not resident[i]:
                compute = max(compute, loaded[(p, pos[i])])
            compute += block_ms
            if not resident[i]:
                j = pos[i]
                released[j % k] = compute
                nj, np_ = (j + k, p) if j + k < n else (j % k, p + 1)
                run_copy(np_, nj)
        compute += outside_ms / 2
    starts.append(compute)
    return starts[-1] - starts[-2]


def describe(name, sizes, resident, slots, block_ms, bw, step_ms):
    streamed = [s for s, r in zip(sizes, resident) if not r]
    k = min(slots, len(streamed))
    slot = max(streamed) if streamed else 0
    t = simulate(sizes, resident, slots, block_ms, bw) if streamed else step_ms
    runs = "".join("R" if r else "s" for r in resident)
    print(f"{name}: {sum(resident)} of {len(sizes)} blocks resident ({sum(s for s, r in zip(sizes, resident) if r) / GIB:.2f} GiB), "
          f"{len(streamed)} streamed through {k} slots of {slot / GIB:.3f} GiB, {sum(streamed) / 1e9:.2f} GB a step "
          f"(copy alone {sum(streamed) / bw / 1e6:.1f} ms); step {t:.1f} ms = {t / step_ms:.2f}x")
    print(f"   order: {runs}")
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=6, help="--vram-budget in GiB")
    ap.add_argument("--bw", type=float, default=50, help="host-to-device GB/s from page-locked memory")
    ap.add_argument("--step-ms", type=float, default=94, help="resident fp8 step at 1024x1024")
    ap.add_argument("--outside-gib", type=float, default=0.70,
                    help="device memory outside our allocator and the DiT's other weights (context, modules, T5's small tables)")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--toy", action="store_true", help="the plan BlockStreamingTests expects (19 blocks of 8 KiB, 38 of 4 KiB)")
    a = ap.parse_args()
    if a.toy:
        toy = [8192] * LAYERS + [4096] * SINGLES
        for budget, slots in [(3 * 8192 + 143196, 3), (2 * 8192 + 100000, 2)]:
            r = plan_spread(toy, budget, slots)
            print(f"budget {budget}, {slots} slots: {''.join('R' if x else 's' for x in r)}")
        return
    sizes = block_sizes()
    print(f"block weights streamed or resident: {len(sizes)} blocks, {sum(sizes) / 1e9:.2f} GB "
          f"(double {sizes[0] / 1e6:.1f} MB, single {sizes[-1] / 1e6:.1f} MB)")
    if a.calibrate:
        block_ms = (101.06 - 2) / len(sizes)
        for gib, measured in [(8, 100.43), (6, 110.54), (5, 118.58), (4, 123.35), (3, 139.41), (2.5, 142.97)]:
            budget = int(gib * GIB) - 128 * MIB  # the check's budget covers the other weights (~0.12 GiB)
            r = plan_prefix(sizes, budget, 2)
            t = describe(f"prefix {gib} GiB", sizes, r, 2, block_ms, 55.5, 101.06)
            print(f"   measured {measured} ms ({measured / 101.06:.2f}x); model {t / measured:.2f} of it")
        return
    block_ms = (a.step_ms - 2) / len(sizes)
    usable = a.budget * GIB - 256 * MIB - a.outside_gib * GIB
    for old in (True, False):
        blocks = int(usable - dit_working_bytes(old))
        label = "activation estimate %.2f GiB" % (dit_working_bytes(old) / GIB)
        print(f"-- {label}: {blocks / GIB:.2f} GiB for block weights")
        r = plan_prefix(sizes, blocks, a.slots)
        describe("prefix (before)", sizes, r, a.slots, block_ms, a.bw, a.step_ms)
        for k in (a.slots, a.slots + 1, a.slots + 2):
            r = plan_spread(sizes, blocks, k)
            describe(f"spread, {k} slots", sizes, r, k, block_ms, a.bw, a.step_ms)


if __name__ == "__main__":
    main()
