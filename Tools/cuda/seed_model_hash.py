"""Fills majicflux's model-hash cache (ModelHash.swift: $XDG_CACHE_HOME or ~/.cache + /majicflux/model-hashes.json)
for a diffusers folder's DiT with the real SHA-256, computed here with hashlib (OpenSSL, SHA-NI: ~1.5 GB/s) instead
of by majicflux's portable SHA-256 (~0.2 GB/s, two minutes for the 23.8 GB random FLUX.1-dev DiT). Benchmarks of a
cold `generate` then measure a machine where the model was hashed before, as a user's is after the first run.
Key and stamp as ModelHash.sha256(files:cacheFile:): the sorted shard paths joined by newlines, "size:sec.nsec".
Usage: python3 Tools/cuda/seed_model_hash.py /tmp/flux-random"""
import hashlib, json, os, sys, time

model = os.path.abspath(sys.argv[1])
folder = os.path.join(model, "transformer")
index = os.path.join(folder, "diffusion_pytorch_model.safetensors.index.json")
if os.path.exists(index):
    with open(index) as f:
        files = sorted({folder + "/" + v for v in json.load(f)["weight_map"].values()})
else:
    files = [os.path.join(folder, "diffusion_pytorch_model.safetensors")]
t0 = time.time()
h = hashlib.sha256()
for p in files:
    with open(p, "rb") as f:
        while chunk := f.read(64 << 20):
            h.update(chunk)
stamps = []
for p in files:
    st = os.stat(p)
    stamps.append(f"{st.st_size}:{st.st_mtime_ns // 1_000_000_000}.{st.st_mtime_ns % 1_000_000_000}")
base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ["HOME"], ".cache")
cache_file = os.path.join(base, "majicflux", "model-hashes.json")
os.makedirs(os.path.dirname(cache_file), exist_ok=True)
cache = {}
if os.path.exists(cache_file):
    with open(cache_file) as f:
        cache = json.load(f)
cache["\n".join(files)] = {"stamp": ",".join(stamps), "sha256": h.hexdigest()}
with open(cache_file, "w") as f:
    json.dump(cache, f, indent=2)
print(f"model hash {h.hexdigest()[:10]} of {len(files)} files in {time.time() - t0:.1f} s -> {cache_file}")
