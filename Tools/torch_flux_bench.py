"""Shared parts of the PyTorch GPU benchmarks (bench_flux_dit_torch.py, bench_lora_torch.py,
bench_conditioning_torch.py): diffusers' FluxTransformer2DModel at full FLUX.1-dev size with random bf16
weights, its step inputs, and CUDA-event timing."""
import torch
from diffusers import FluxTransformer2DModel


def full_size_dit(dev, in_channels=64):
    """FLUX.1-dev's DiT (19 + 38 blocks, 3072 wide) with random bf16 weights on `dev`, eval mode."""
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with dev:
        model = FluxTransformer2DModel(patch_size=1, in_channels=in_channels, out_channels=64, num_layers=19, num_single_layers=38,
                                       attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                                       pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
    torch.set_default_dtype(torch.float32)
    return model.to(dev, torch.bfloat16).eval()


def grid_ids(h, w, dev, first=0):
    """Position ids (first, row, col) of an h x w token grid, as diffusers' _prepare_latent_image_ids."""
    img = torch.zeros(h, w, 3, device=dev)
    img[..., 0] = first
    img[..., 1] = torch.arange(h, device=dev)[:, None]
    img[..., 2] = torch.arange(w, device=dev)[None, :]
    return img.reshape(h * w, 3)


def ids(grid, dev, text=512):
    """Image ids of a square grid and the (zero) text ids."""
    return grid_ids(grid, grid, dev), torch.zeros(text, 3, device=dev)


def step_inputs(tokens, dev, in_channels=64, text=512):
    """Random bf16 image tokens, T5 states, pooled vector, timestep 0.5 and guidance 3.5."""
    bf = torch.bfloat16
    return (torch.randn(1, tokens, in_channels, device=dev, dtype=bf), torch.randn(1, text, 4096, device=dev, dtype=bf),
            torch.randn(1, 768, device=dev, dtype=bf), torch.tensor([0.5], device=dev, dtype=bf), torch.tensor([3.5], device=dev, dtype=bf))


def cuda_times(fn, warmup, runs):
    """Sorted GPU milliseconds of `runs` calls of fn after `warmup` calls (CUDA events)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)
