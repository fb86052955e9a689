"""Key-layout conversions used by the fixture scripts: diffusers -> BFL for the Flux DiT and VAE."""
import torch

# One-to-one Linears inside a block: diffusers name in transformer_blocks.N -> BFL name in double_blocks.N,
# and single_transformer_blocks.N -> single_blocks.N (the fused q/k/v(/mlp) ones are handled apart).
DOUBLE_LINEARS = {
    "norm1.linear": "img_mod.lin",
    "norm1_context.linear": "txt_mod.lin",
    "attn.to_out.0": "img_attn.proj",
    "attn.to_add_out": "txt_attn.proj",
    "ff.net.0.proj": "img_mlp.0",
    "ff.net.2": "img_mlp.2",
    "ff_context.net.0.proj": "txt_mlp.0",
    "ff_context.net.2": "txt_mlp.2",
}
SINGLE_LINEARS = {"proj_out": "linear2", "norm.linear": "modulation.lin"}


def flux_to_bfl(sd):
    """diffusers -> BFL names (the inverse of the mapping documented in flux-reference.md)."""
    layers = len({k.split(".")[1] for k in sd if k.startswith("transformer_blocks.")})
    singles = len({k.split(".")[1] for k in sd if k.startswith("single_transformer_blocks.")})
    o = {}
    def cp(dst, src):
        for s in ["weight", "bias"]:
            if f"{src}.{s}" in sd: o[f"{dst}.{s}"] = sd[f"{src}.{s}"]
    cp("img_in", "x_embedder"); cp("txt_in", "context_embedder")
    for b, dd in [("time_in", "timestep_embedder"), ("vector_in", "text_embedder"), ("guidance_in", "guidance_embedder")]:
        cp(f"{b}.in_layer", f"time_text_embed.{dd}.linear_1"); cp(f"{b}.out_layer", f"time_text_embed.{dd}.linear_2")
    cp("final_layer.linear", "proj_out")
    for s in ["weight", "bias"]:
        scale, shift = sd[f"norm_out.linear.{s}"].chunk(2, dim=0)
        o[f"final_layer.adaLN_modulation.1.{s}"] = torch.cat([shift, scale], 0)
    for n in range(layers):
        b, t = f"double_blocks.{n}", f"transformer_blocks.{n}"
        cp(f"{b}.img_mod.lin", f"{t}.norm1.linear"); cp(f"{b}.txt_mod.lin", f"{t}.norm1_context.linear")
        for s in ["weight", "bias"]:
            o[f"{b}.img_attn.qkv.{s}"] = torch.cat([sd[f"{t}.attn.to_{x}.{s}"] for x in "qkv"], 0)
            o[f"{b}.txt_attn.qkv.{s}"] = torch.cat([sd[f"{t}.attn.add_{x}_proj.{s}"] for x in "qkv"], 0)
        o[f"{b}.img_attn.norm.query_norm.scale"] = sd[f"{t}.attn.norm_q.weight"]
        o[f"{b}.img_attn.norm.key_norm.scale"] = sd[f"{t}.attn.norm_k.weight"]
        o[f"{b}.txt_attn.norm.query_norm.scale"] = sd[f"{t}.attn.norm_added_q.weight"]
        o[f"{b}.txt_attn.norm.key_norm.scale"] = sd[f"{t}.attn.norm_added_k.weight"]
        cp(f"{b}.img_attn.proj", f"{t}.attn.to_out.0"); cp(f"{b}.txt_attn.proj", f"{t}.attn.to_add_out")
        cp(f"{b}.img_mlp.0", f"{t}.ff.net.0.proj"); cp(f"{b}.img_mlp.2", f"{t}.ff.net.2")
        cp(f"{b}.txt_mlp.0", f"{t}.ff_context.net.0.proj"); cp(f"{b}.txt_mlp.2", f"{t}.ff_context.net.2")
    for n in range(singles):
        b, t = f"single_blocks.{n}", f"single_transformer_blocks.{n}"
        for s in ["weight", "bias"]:
            o[f"{b}.linear1.{s}"] = torch.cat([sd[f"{t}.attn.to_{x}.{s}"] for x in "qkv"] + [sd[f"{t}.proj_mlp.{s}"]], 0)
        cp(f"{b}.linear2", f"{t}.proj_out"); cp(f"{b}.modulation.lin", f"{t}.norm.linear")
        o[f"{b}.norm.query_norm.scale"] = sd[f"{t}.attn.norm_q.weight"]
        o[f"{b}.norm.key_norm.scale"] = sd[f"{t}.attn.norm_k.weight"]
    return o


def vae_to_bfl(sd, n=4, layers=2):
    o = {}
    def cp(dst, src, shape=None):
        for s in ["weight", "bias"]:
            if f"{src}.{s}" in sd:
                v = sd[f"{src}.{s}"]
                o[f"{dst}.{s}"] = v.reshape(*v.shape, 1, 1) if (shape == "conv" and s == "weight" and v.ndim == 2) else v
    def resnet(dst, src):
        for p in ["norm1", "conv1", "norm2", "conv2"]: cp(f"{dst}.{p}", f"{src}.{p}")
        cp(f"{dst}.nin_shortcut", f"{src}.conv_shortcut")
    for side in ["encoder", "decoder"]:
        cp(f"{side}.conv_in", f"{side}.conv_in"); cp(f"{side}.conv_out", f"{side}.conv_out")
        cp(f"{side}.norm_out", f"{side}.conv_norm_out")
        resnet(f"{side}.mid.block_1", f"{side}.mid_block.resnets.0"); resnet(f"{side}.mid.block_2", f"{side}.mid_block.resnets.1")
        a = f"{side}.mid_block.attentions.0"
        cp(f"{side}.mid.attn_1.norm", f"{a}.group_norm")
        for bq, dq in [("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")]:
            cp(f"{side}.mid.attn_1.{bq}", f"{a}.{dq}", "conv")
    for i in range(n):
        for j in range(layers): resnet(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}")
        cp(f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv")
        for j in range(layers + 1): resnet(f"decoder.up.{i}.block.{j}", f"decoder.up_blocks.{n - 1 - i}.resnets.{j}")
        cp(f"decoder.up.{i}.upsample.conv", f"decoder.up_blocks.{n - 1 - i}.upsamplers.0.conv")
    return o
