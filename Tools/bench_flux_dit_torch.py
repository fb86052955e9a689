"""PyTorch reference for `cuda-check dit`: one step of diffusers' FluxTransformer2DModel at full
FLUX.1-dev size (random bf16 weights, eager mode) at 1024x1024 (4096 image tokens) and 512x512 (1024),
512 text tokens; GPU time per step with CUDA events (best and median of 5 after 5 warm-up steps), peak
memory, and SDPA alone at the joint length. Usage: python3 Tools/bench_flux_dit_torch.py [1024 512]"""
import sys, time
import torch
import torch.nn.functional as F
from diffusers import FluxTransformer2DModel

sizes = [int(a) for a in sys.argv[1:]] or [1024, 512]
dev = torch.device("cuda")
print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
t0 = time.time()
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)
with dev:
    model = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38,
                                   attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                                   pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
torch.set_default_dtype(torch.float32)
model = model.to(dev, torch.bfloat16).eval()
torch.cuda.synchronize()
params = sum(p.numel() for p in model.parameters())
print(f"weights: {params} parameters, made in {time.time() - t0:.1f} s")


def ids(grid):
    img = torch.zeros(grid, grid, 3, device=dev)
    img[..., 1] = torch.arange(grid, device=dev)[:, None]
    img[..., 2] = torch.arange(grid, device=dev)[None, :]
    return img.reshape(grid * grid, 3), torch.zeros(512, 3, device=dev)


with torch.inference_mode():
    for size in sizes:
        grid = size // 16
        tokens = grid * grid
        x = torch.randn(1, tokens, 64, device=dev, dtype=torch.bfloat16)
        txt = torch.randn(1, 512, 4096, device=dev, dtype=torch.bfloat16)
        pooled = torch.randn(1, 768, device=dev, dtype=torch.bfloat16)
        img_ids, txt_ids = ids(grid)
        t = torch.tensor([0.5], device=dev, dtype=torch.bfloat16)
        g = torch.tensor([3.5], device=dev, dtype=torch.bfloat16)

        def step():
            return model(hidden_states=x, encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                         img_ids=img_ids, txt_ids=txt_ids, guidance=g, return_dict=False)[0]

        torch.cuda.reset_peak_memory_stats()
        for _ in range(5):
            step()
        torch.cuda.synchronize()
        times = []
        for _ in range(5):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); out = step(); b.record(); b.synchronize()
            times.append(a.elapsed_time(b))
        times.sort()
        peak = torch.cuda.max_memory_allocated() / 1e9
        print(f"torch dit {size}x{size} ({tokens}+512 tokens): best {times[0]:.2f} ms, median {times[2]:.2f} ms per step; "
              f"peak allocated {peak:.2f} GB; output finite: {bool(torch.isfinite(out).all())}")
        L = tokens + 512
        q, k, v = (torch.randn(1, 24, L, 128, device=dev, dtype=torch.bfloat16) for _ in range(3))
        F.scaled_dot_product_attention(q, k, v)
        ts = []
        for _ in range(5):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); F.scaled_dot_product_attention(q, k, v); b.record(); b.synchronize()
            ts.append(a.elapsed_time(b))
        ms = min(ts)
        print(f"  torch sdpa (1, 24, {L}, 128): {ms:.3f} ms, {4 * L * L * 128 * 24 / ms / 1e9:.1f} TFLOP/s")
