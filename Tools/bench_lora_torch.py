"""PyTorch reference for `cuda-check dit-lora`: one step of diffusers' FluxTransformer2DModel at full
FLUX.1-dev size (random bf16 weights, eager) without LoRA and with an unfused LoRA of rank 16 and 64 on
every Linear of the blocks, computed as peft's LoraLayer does it (result = base(x) + lora_B(lora_A(x)) *
scaling; peft is not on the GPU machine, so its forward is written out here). 1024x1024 and 512x512,
512 text tokens; median of 7 steps after 3 warm-up steps with CUDA events.
Usage: python3 Tools/bench_lora_torch.py [1024 512]"""
import sys, time
import torch
from torch import nn
from torch_flux_bench import full_size_dit, ids, step_inputs, cuda_times

sizes = [int(a) for a in sys.argv[1:]] or [1024, 512]
dev = torch.device("cuda")
print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
model = full_size_dit(dev)

class LoRA(nn.Module):
    """peft's unfused LoRA forward for one Linear (dropout off, scaling alpha / r = 1)."""
    def __init__(self, base, r):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False, device=dev, dtype=torch.bfloat16)
        self.lora_B = nn.Linear(r, base.out_features, bias=False, device=dev, dtype=torch.bfloat16)
        nn.init.normal_(self.lora_B.weight, std=0.01)
        self.scaling = 1.0
        self.active = True

    def forward(self, x):
        result = self.base(x)
        if self.active:
            result = result + self.lora_B(self.lora_A(x)) * self.scaling
        return result


def attach(r):
    wrapped = []
    for blocks in (model.transformer_blocks, model.single_transformer_blocks):
        for block in blocks:
            for name, mod in list(block.named_modules()):
                if isinstance(mod, nn.Linear):
                    parent = block.get_submodule(name.rsplit(".", 1)[0]) if "." in name else block
                    setattr(parent, name.rsplit(".", 1)[-1], LoRA(mod, r))
                    wrapped.append(name)
    return len(wrapped)


def detach():
    for blocks in (model.transformer_blocks, model.single_transformer_blocks):
        for block in blocks:
            for name, mod in list(block.named_modules()):
                if isinstance(mod, LoRA):
                    parent = block.get_submodule(name.rsplit(".", 1)[0]) if "." in name else block
                    setattr(parent, name.rsplit(".", 1)[-1], mod.base)



with torch.inference_mode():
    for size in sizes:
        grid = size // 16
        x, txt, pooled, t, g = step_inputs(grid * grid, dev)
        img_ids, txt_ids = ids(grid, dev)

        def median():
            return cuda_times(lambda: model(hidden_states=x, encoder_hidden_states=txt, pooled_projections=pooled, timestep=t,
                                            img_ids=img_ids, txt_ids=txt_ids, guidance=g, return_dict=False), 3, 7)[3]

        base = median()
        line = f"torch dit bf16 {size}x{size}: no LoRA {base:.2f} ms"
        for r in (16, 64):
            n = attach(r)
            ms = median()
            line += f"; rank {r} on {n} Linears {ms:.2f} ms ({ms / base:.3f}x)"
            detach()
        line += f"; no LoRA again {median():.2f} ms"
        print(line, flush=True)
