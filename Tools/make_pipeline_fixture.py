"""A complete tiny FLUX.1-dev style model folder with random weights, and the picture diffusers'
FluxPipeline makes from it for a fixed prompt, seed, size and step count ("same seed, same picture").

Writes Tests/ModelsTests/Fixtures/tiny-flux/ : model_index.json, scheduler/, tokenizer/ (real CLIP BPE
files), tokenizer_2/ (our SentencePiece model), text_encoder/, text_encoder_2/, transformer/, vae/ (BF16
weights), and expected.safetensors with the intermediate tensors and the final RGB bytes.
The reference runs in float32 on the bf16-rounded weights, which is what our CPU path computes.
Needs the tokenizer fixtures (Tests/ModelsTests/Fixtures/clip-tokenizer, t5-tokenizer) to exist.
Run: /work/venv/bin/python Tools/make_pipeline_fixture.py
"""
import json, os, shutil, torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, CLIPTokenizer, T5TokenizerFast
from diffusers import FluxTransformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline

torch.manual_seed(7)
fx = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelsTests", "Fixtures")
root = os.path.join(fx, "tiny-flux")
shutil.rmtree(root, ignore_errors=True); os.makedirs(root)

def bf16_round(model, scale):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("scale")) and "bias" not in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    return model.eval()

def save(model, sub, fname, config):
    d = os.path.join(root, sub); os.makedirs(d, exist_ok=True)
    sd = {k: v.to(torch.bfloat16).contiguous().clone() for k, v in model.state_dict().items()
          if k != "encoder.embed_tokens.weight" and not k.endswith("position_ids")}
    save_file(sd, os.path.join(d, fname))
    json.dump(config, open(os.path.join(d, "config.json"), "w"), indent=1)

shutil.copytree(os.path.join(fx, "clip-tokenizer"), os.path.join(root, "tokenizer"))
os.makedirs(os.path.join(root, "tokenizer_2"))
for f in ["spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    if not os.path.exists(os.path.join(fx, "t5-tokenizer", f)): continue
    shutil.copy(os.path.join(fx, "t5-tokenizer", f), os.path.join(root, "tokenizer_2", f))
tok = CLIPTokenizer.from_pretrained(os.path.join(root, "tokenizer"))
tok2 = T5TokenizerFast.from_pretrained(os.path.join(root, "tokenizer_2"))
t5_vocab = len(tok2)
assert t5_vocab > 1000, f"T5 tokenizer did not load ({t5_vocab} tokens)"

cc = CLIPTextConfig(vocab_size=49408, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=2)
clip = bf16_round(CLIPTextModel(cc), 0.3)
save(clip, "text_encoder", "model.safetensors", {"architectures": ["CLIPTextModel"], **{k: getattr(cc, k) for k in
     ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
      "max_position_embeddings", "hidden_act", "layer_norm_eps", "eos_token_id"]}})
tc = T5Config(vocab_size=t5_vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6)
t5 = bf16_round(T5EncoderModel(tc), 0.3)
save(t5, "text_encoder_2", "model.safetensors", {"architectures": ["T5EncoderModel"], **{k: getattr(tc, k) for k in
     ["vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads", "relative_attention_num_buckets",
      "relative_attention_max_distance", "feed_forward_proj", "layer_norm_epsilon"]}})
fcfg = dict(patch_size=1, in_channels=64, num_layers=1, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=32, pooled_projection_dim=16, guidance_embeds=True, axes_dims_rope=[4, 6, 6])
dit = bf16_round(FluxTransformer2DModel(**fcfg), 0.15)
save(dit, "transformer", "diffusion_pytorch_model.safetensors", dict(fcfg, _class_name="FluxTransformer2DModel"))
vcfg = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=[8, 16, 16, 16], layers_per_block=1, latent_channels=16, norm_num_groups=4,
            scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
vae = bf16_round(AutoencoderKL(**vcfg), 0.2)
save(vae, "vae", "diffusion_pytorch_model.safetensors", dict(vcfg, _class_name="AutoencoderKL"))
sched_cfg = {"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5,
             "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}
os.makedirs(os.path.join(root, "scheduler"))
json.dump(sched_cfg, open(os.path.join(root, "scheduler", "scheduler_config.json"), "w"), indent=1)
json.dump({"_class_name": "FluxPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
           "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "T5EncoderModel"],
           "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "T5TokenizerFast"],
           "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]},
          open(os.path.join(root, "model_index.json"), "w"), indent=1)

pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**{k: v for k, v in sched_cfg.items() if k != "_class_name"}),
                    vae=vae, text_encoder=clip, tokenizer=tok, text_encoder_2=t5, tokenizer_2=tok2, transformer=dit)
case = dict(prompt="a red circle on a blue background, 一只红色的圆", seed=42, steps=4, width=64, height=48, guidance=3.5, max_sequence_length=64)
captured = {}
def cb(p, i, t, kw):
    captured[f"latents.{i}"] = kw["latents"].clone(); return kw
with torch.no_grad():
    pe, pooled, _ = pipe.encode_prompt(case["prompt"], case["prompt"], max_sequence_length=case["max_sequence_length"])
    out = pipe(prompt=case["prompt"], height=case["height"], width=case["width"], num_inference_steps=case["steps"],
               guidance_scale=case["guidance"], max_sequence_length=case["max_sequence_length"],
               generator=torch.Generator("cpu").manual_seed(case["seed"]), output_type="np",
               callback_on_step_end=cb, callback_on_step_end_tensor_inputs=["latents"])
img = (out.images[0] * 255).round().astype("uint8")          # what postprocess does for PIL output
ids2 = tok2(case["prompt"], padding="max_length", max_length=case["max_sequence_length"], truncation=True).input_ids
ids1 = tok(case["prompt"], padding="max_length", max_length=77, truncation=True).input_ids
tensors = {"t5_embeds": pe, "clip_pooled": pooled, "rgb": torch.from_numpy(img.copy()),
           "clip_ids": torch.tensor(ids1), "t5_ids": torch.tensor(ids2)}
tensors.update(captured)
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(root, "expected.safetensors"),
          metadata={k: str(v) for k, v in case.items()})
print("wrote", root, img.shape, "mean", img.mean())
