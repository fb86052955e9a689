"""Reference sigma schedules from diffusers (FluxPipeline + FlowMatchEulerDiscreteScheduler) and the
DiffSynth static-shift formula. Writes Tests/ModelsTests/Fixtures/scheduler.json.
Run: /work/venv/bin/python Tools/make_scheduler_fixtures.py"""
import json, os, numpy as np, torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.flux.pipeline_flux import calculate_shift

out = {"dev": [], "schnell": [], "diffsynth": []}
dev = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                      base_image_seq_len=256, max_image_seq_len=4096)
schnell = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
def bits(t): return [int(x) for x in t.to(torch.float32).numpy().view(np.uint32)]
for steps in [1, 2, 4, 20, 28, 50]:
    for seq in [256, 1024, 1369, 4096, 16384]:
        sig = np.linspace(1.0, 1 / steps, steps)
        mu = calculate_shift(seq, 256, 4096, 0.5, 1.15)
        dev.set_timesteps(sigmas=sig, mu=mu)
        # FluxPipeline passes timestep/1000 where timestep = sigma*1000 (float32 both ways).
        model_t = (dev.timesteps / 1000).to(torch.float32)
        out["dev"].append({"steps": steps, "seq": seq, "sigmas": bits(dev.sigmas), "model_t": bits(model_t)})
    schnell.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps))
    out["schnell"].append({"steps": steps, "sigmas": bits(schnell.sigmas)})
    # DiffSynth FlowMatchScheduler(shift=3, sigma_min=0.003/1.002): linspace(1, sigma_min) then shift, in torch f32
    sigma_min = 0.003 / 1.002
    s = torch.linspace(1.0, sigma_min, steps) if steps > 1 else torch.tensor([1.0])
    s = 3 * s / (1 + 2 * s)
    out["diffsynth"].append({"steps": steps, "sigmas": bits(torch.cat([s, torch.zeros(1)]))})
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures", "scheduler.json")
json.dump(out, open(path, "w"))
print("wrote", path)
