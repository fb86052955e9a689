"""A complete tiny FLUX.1-dev style model folder with random weights, and the picture diffusers'
FluxPipeline makes from it for a fixed prompt, seed, size and step count ("same seed, same picture").

Writes Tests/ModelsTests/Fixtures/tiny-flux/ with FluxPipeline.save_pretrained (model_index.json, scheduler/,
tokenizer/ with the real CLIP BPE files, tokenizer_2/ with our SentencePiece model, text_encoder/, text_encoder_2/,
transformer/, vae/, BF16 weights); tiny-flux-dit-comfy.safetensors (the DiT in BFL names with ComfyUI's prefix);
tiny-flux-expected.safetensors (per case: text embeddings, latents after each step, final RGB bytes; the
cases as JSON in the metadata).
The reference runs in float32 on the bf16-rounded weights, which is what our CPU path computes.
Needs the tokenizer fixtures (Tests/ModelsTests/Fixtures/clip-tokenizer, t5-tokenizer) to exist.
Run: /work/venv/bin/python Tools/make_pipeline_fixture.py
"""
import json, os, shutil, sys, torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, CLIPTokenizer, T5TokenizerFast
from diffusers import FluxTransformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_layouts import flux_to_bfl

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

tok = CLIPTokenizer.from_pretrained(os.path.join(fx, "clip-tokenizer"))
tok2 = T5TokenizerFast.from_pretrained(os.path.join(fx, "t5-tokenizer"))
t5_vocab = len(tok2)
assert t5_vocab > 1000, f"T5 tokenizer did not load ({t5_vocab} tokens)"

cc = CLIPTextConfig(vocab_size=49408, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=2)
clip = bf16_round(CLIPTextModel(cc), 0.3)
tc = T5Config(vocab_size=t5_vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=32,
              relative_attention_max_distance=128, feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6)
t5 = bf16_round(T5EncoderModel(tc), 0.3)
fcfg = dict(patch_size=1, in_channels=64, num_layers=1, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=32, pooled_projection_dim=16, guidance_embeds=True, axes_dims_rope=[4, 6, 6])
dit = bf16_round(FluxTransformer2DModel(**fcfg), 0.15)
vcfg = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=[8, 16, 16, 16], layers_per_block=1, latent_channels=16, norm_num_groups=4,
            scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
vae = bf16_round(AutoencoderKL(**vcfg), 0.2)
sched_cfg = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
             "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}
pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**sched_cfg), vae=vae, text_encoder=clip, tokenizer=tok,
                    text_encoder_2=t5, tokenizer_2=tok2, transformer=dit)
# The folder exactly as diffusers writes it, weights in bf16 (the values are bf16-exact already).
pipe.to(torch.bfloat16).save_pretrained(root, safe_serialization=True)
pipe.to(torch.float32)
# transformers 5 writes tokenizer.json only; FLUX.1-dev's folders hold the classic files: tokenizer/ has
# vocab.json + merges.txt (no tokenizer.json), tokenizer_2/ has spiece.model beside tokenizer.json.
os.remove(os.path.join(root, "tokenizer", "tokenizer.json"))
for f in ["vocab.json", "merges.txt"]:
    shutil.copy(os.path.join(fx, "clip-tokenizer", f), os.path.join(root, "tokenizer", f))
shutil.copy(os.path.join(fx, "t5-tokenizer", "spiece.model"), os.path.join(root, "tokenizer_2", "spiece.model"))
# The same DiT as a ComfyUI-style BFL single file (what majicflus_v134.safetensors looks like), for --dit.
bfl = flux_to_bfl({k: v.to(torch.bfloat16) for k, v in dit.state_dict().items()})
save_file({"model.diffusion_model." + k: v.contiguous() for k, v in bfl.items()}, os.path.join(root, "..", "tiny-flux-dit-comfy.safetensors"))

cases = [
    dict(prompt="a red circle on a blue background, 一只红色的圆", seed=42, steps=4, width=64, height=48, guidance=3.5),
    dict(prompt="一只在雪山上的猫，水墨画风格", seed=7, steps=3, width=48, height=80, guidance=5.0),
    dict(prompt="A photo of an astronaut riding a horse on the moon!!", seed=2**33 + 1, steps=6, width=32, height=32, guidance=1.0),
    dict(prompt="watercolor lighthouse at dusk", negative_prompt="blurry, low quality", true_cfg_scale=2.0,
         seed=3, steps=2, width=64, height=64, guidance=3.5),
]
tensors = {}
for n, case in enumerate(cases):
    case["max_sequence_length"] = 64
    captured = {}
    def cb(p, i, t, kw):
        captured[f"case{n}.latents.{i}"] = kw["latents"].clone(); return kw
    with torch.no_grad():
        pe, pooled, _ = pipe.encode_prompt(case["prompt"], case["prompt"], max_sequence_length=64)
        out = pipe(prompt=case["prompt"], negative_prompt=case.get("negative_prompt"), true_cfg_scale=case.get("true_cfg_scale", 1.0),
                   height=case["height"], width=case["width"], num_inference_steps=case["steps"],
                   guidance_scale=case["guidance"], max_sequence_length=64,
                   generator=torch.Generator("cpu").manual_seed(case["seed"]), output_type="np",
                   callback_on_step_end=cb, callback_on_step_end_tensor_inputs=["latents"])
    img = (out.images[0] * 255).round().astype("uint8")          # what postprocess does for PIL output
    tensors.update({f"case{n}.t5_embeds": pe, f"case{n}.clip_pooled": pooled, f"case{n}.rgb": torch.from_numpy(img.copy())})
    tensors.update(captured)
save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(root, "..", "tiny-flux-expected.safetensors"),
          metadata={"cases": json.dumps(cases, ensure_ascii=False)})
print("wrote", root, [c["prompt"] for c in cases])
