"""PyTorch reference for `cuda-check dit`: one step of diffusers' FluxTransformer2DModel at full
FLUX.1-dev size (random bf16 weights, eager mode) at 1024x1024 (4096 image tokens) and 512x512 (1024),
512 text tokens; GPU time per step with CUDA events (best and median of 5 after 5 warm-up steps), peak
memory, and SDPA alone at the joint length. With --compile, then the same steps through
`torch.compile(fullgraph=True)` with fused QKV projections (the issue's reference; compile time printed).
Usage: python3 Tools/bench_flux_dit_torch.py [--compile] [1024 512]"""
import sys, time
import torch
import torch.nn.functional as F
from torch_flux_bench import full_size_dit, ids, step_inputs, cuda_times

compile_too = '--compile' in sys.argv
sizes = [int(a) for a in sys.argv[1:] if a != '--compile'] or [1024, 512]
dev = torch.device("cuda")
print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
t0 = time.time()
model = full_size_dit(dev)
torch.cuda.synchronize()
params = sum(p.numel() for p in model.parameters())
print(f"weights: {params} parameters, made in {time.time() - t0:.1f} s")


def step_for(net, size):
    """One DiT step of `net` at `size` x `size` (fresh random inputs) and its image token count."""
    grid = size // 16
    x, txt, pooled, t, g = step_inputs(grid * grid, dev)
    img_ids, txt_ids = ids(grid, dev)

    def step():
        return net(hidden_states=x, encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                   img_ids=img_ids, txt_ids=txt_ids, guidance=g, return_dict=False)[0]
    return step, grid * grid


with torch.inference_mode():
    for size in sizes:
        step, tokens = step_for(model, size)
        torch.cuda.reset_peak_memory_stats()
        times = cuda_times(step, 5, 5)
        out = step()
        peak = torch.cuda.max_memory_allocated() / 1e9
        print(f"torch dit {size}x{size} ({tokens}+512 tokens): best {times[0]:.2f} ms, median {times[2]:.2f} ms per step; "
              f"peak allocated {peak:.2f} GB; output finite: {bool(torch.isfinite(out).all())}")
        L = tokens + 512
        q, k, v = (torch.randn(1, 24, L, 128, device=dev, dtype=torch.bfloat16) for _ in range(3))
        ms = cuda_times(lambda: F.scaled_dot_product_attention(q, k, v), 1, 5)[0]
        print(f"  torch sdpa (1, 24, {L}, 128): {ms:.3f} ms, {4 * L * L * 128 * 24 / ms / 1e9:.1f} TFLOP/s")

if compile_too:
    # torch.compile's reference: fused QKV (diffusers' fuse_qkv_projections) and one graph per shape.
    model.fuse_qkv_projections()
    compiled = torch.compile(model, fullgraph=True)
    with torch.inference_mode():
        for size in sizes:
            cstep, tokens = step_for(compiled, size)
            t0 = time.time()
            cstep(); torch.cuda.synchronize()
            print(f"torch.compile {size}x{size}: first call (compiling) {time.time() - t0:.1f} s")
            times = cuda_times(cstep, 5, 5)
            print(f"torch compiled dit {size}x{size} ({tokens}+512 tokens): best {times[0]:.2f} ms, median {times[2]:.2f} ms per step")
