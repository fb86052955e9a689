"""PyTorch references for `cuda-check conditioning-bench` (issue 18), on the GPU:
  - diffusers' AutoencoderKL (the FLUX.1 VAE config, PyTorch's default random init seeded 0, bf16) `.encode(x).latent_dist`
    of a 1024x1024 picture: median of 5 after 2 warm-up calls (CUDA events); the VAE is saved to
    --vae-out so ours loads the same weights;
  - one FLUX.1-dev-size Kontext step in eager mode (FluxKontextPipeline's transformer call: the image tokens
    plus as many reference tokens with ids (1, row, col), 512 text tokens) against the plain step: median of 7.
Usage: python3 Tools/bench_conditioning_torch.py --vae-out DIR [sizes]"""
import argparse, os, sys
import torch
from diffusers import AutoencoderKL
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_flux_bench import full_size_dit, grid_ids, step_inputs, cuda_times

ap = argparse.ArgumentParser()
ap.add_argument("--vae-out", required=True)
ap.add_argument("sizes", nargs="*", type=int, default=[1024])
args = ap.parse_args()
dev = torch.device("cuda")
print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")

torch.manual_seed(0)
vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
                    up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                    latent_channels=16, norm_num_groups=32, sample_size=1024, scaling_factor=0.3611, shift_factor=0.1159,
                    use_quant_conv=False, use_post_quant_conv=False)
vae = vae.to(torch.bfloat16)
vae.save_pretrained(args.vae_out)
vae = vae.to(dev).eval()
with torch.inference_mode():
    for size in args.sizes:
        x = torch.rand(1, 3, size, size, device=dev, dtype=torch.bfloat16) * 2 - 1
        torch.cuda.reset_peak_memory_stats()
        t = cuda_times(lambda: vae.encode(x).latent_dist, 2, 5)
        print(f"torch vae encode {size}x{size} bf16: best {t[0]:.2f} ms, median {t[2]:.2f} ms; peak allocated "
              f"{torch.cuda.max_memory_allocated() / 1e9:.2f} GB", flush=True)
del vae
torch.cuda.empty_cache()

model = full_size_dit(dev)
with torch.inference_mode():
    for size in args.sizes:
        grid = size // 16
        tokens = grid * grid
        x, txt, pooled, t, g = step_inputs(tokens, dev)
        ref = torch.randn_like(x)
        img_ids, ref_ids, txt_ids = grid_ids(grid, grid, dev), grid_ids(grid, grid, dev, first=1), torch.zeros(512, 3, device=dev)
        joint_ids = torch.cat([img_ids, ref_ids], dim=0)

        def plain():
            return model(hidden_states=x, encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                         img_ids=img_ids, txt_ids=txt_ids, guidance=g, return_dict=False)[0]

        def kontext():
            # FluxKontextPipeline: latents and reference latents joined on tokens, only the first part kept.
            out = model(hidden_states=torch.cat([x, ref], dim=1), encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                        img_ids=joint_ids, txt_ids=txt_ids, guidance=g, return_dict=False)[0]
            return out[:, :tokens]

        p, k = cuda_times(plain, 3, 7)[3], cuda_times(kontext, 3, 7)[3]
        print(f"torch dit kontext {size}x{size} ({tokens} image + {tokens} reference + 512 text tokens): median {k:.2f} ms per step; "
              f"plain step {p:.2f} ms ({k / p:.2f}x)", flush=True)
