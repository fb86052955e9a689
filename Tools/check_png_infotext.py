#!/usr/bin/env python3
"""Round trip of our PNG parameters through the readers other tools use (issue #23).

  .build/release/majicflux generate --model Models/default --prompt "a red cube, studio light" \
      --steps 3 --seed 1234 --width 128 --height 96 --guidance 4.5 --output /tmp/infotext.png
  /work/venv/bin/python Tools/check_png_infotext.py /tmp/infotext.png \
      --dit Models/default/transformer/diffusion_pytorch_model.safetensors

With LoRAs (`generate --lora FILE[:WEIGHT]`), give the same files: `--lora FILE` (repeatable).

(/work/venv: pip install sd-parsers pillow.) The PNG's `parameters` chunk is parsed twice:

1. with A1111's own code, reimplemented: `parse_generation_parameters` of
   modules/infotext_utils.py (stable-diffusion-webui 1.10; the same in Forge), whose field regex is
   `\\s*(\\w[\\w \\-/]+):\\s*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)`;
2. with the PyPI package sd-parsers (its AUTOMATIC1111 parser), which image browsers build on.

Both must give the sampler (`Euler`, schedule `Simple`), steps, seed, size, CFG scale, distilled CFG
scale and model name/hash that the `majicflux` chunk (the request as JSON) and the DiT file say; the
expected model hash is A1111's short hash computed here: the first 10 hex digits of the file's sha256.
LoRAs: the prompt keeps A1111's `<lora:name:weight>` tags after the request's prompt, which A1111's
extra-network parser (modules/extra_networks.py) must read back as the request's LoRAs and weights,
and `Lora hashes` (read as the built-in Lora extension's `infotext_pasted` splits it) must give each
file's sd-scripts "addnet" hash: the first 12 hex digits of the sha256 of everything after the
safetensors header. Exits non-zero on any mismatch.
"""
import argparse, hashlib, json, re, sys

# modules/infotext_utils.py (A1111 1.10): the field pattern and the size pattern.
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
# modules/extra_networks.py: `<lora:name:weight>` and the like in the prompt.
RE_EXTRA_NET = re.compile(r"<(\w+):([^>]+)>")


def prompt_loras(prompt):
    """A1111's extra_networks.parse_prompt for `lora`: (name, weight) per tag; weight 1 when absent."""
    found = []
    for kind, args in RE_EXTRA_NET.findall(prompt):
        if kind == "lora":
            items = args.split(":")
            found.append((items[0], float(items[1]) if len(items) > 1 else 1.0))
    return found


def lora_hashes(value):
    """The built-in Lora extension's `infotext_pasted`: 'name: hash, name: hash' to a dict."""
    pairs = [x.strip().split(":", 1) for x in value.split(",")]
    return {p[0].strip().replace(",", ""): p[1].strip() for p in pairs if len(p) == 2}


def addnet_hash(path):
    """sd-scripts' addnet hash (A1111's LoRA short hash): sha256 of the bytes after the header."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        f.seek(8 + n)
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def infotext_number(v):
    """A weight as the infotext writes it: integers without a fraction, else the float32's shortest form."""
    import numpy as np
    f = np.float32(v)
    if float(f).is_integer() and abs(f) < 1e7:
        return str(int(f))
    return np.format_float_positional(f, trim="-")


def unquote(text):
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except Exception:
        return text


def parse_generation_parameters(x):
    """The core of A1111's parse_generation_parameters (prompt, negative prompt, fields, size split,
    and the defaults it fills in for missing fields that matter here)."""
    res = {}
    prompt, negative_prompt, done_with_prompt = "", "", False
    *lines, lastline = x.strip().split("\n")
    if len(RE_PARAM.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    for k, v in RE_PARAM.findall(lastline):
        if v and v[0] == '"' and v[-1] == '"':
            v = unquote(v)
        m = RE_IMAGESIZE.match(v)
        if m is not None:
            res[f"{k}-1"] = m.group(1)
            res[f"{k}-2"] = m.group(2)
        else:
            res[k] = v
    if "CFG scale" not in res:  # what A1111's txt2img tab falls back to
        res["CFG scale"] = "7"
    return res


def short_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("png")
    ap.add_argument("--dit", required=True, help="the DiT .safetensors file the picture was made with")
    ap.add_argument("--lora", action="append", default=[], help="a LoRA file the picture was made with (repeatable)")
    args = ap.parse_args()

    from PIL import Image
    from sd_parsers import ParserManager

    text = Image.open(args.png).text
    params, request = text["parameters"], json.loads(text["majicflux"])
    width, height = Image.open(args.png).size
    model_hash = short_hash(args.dit)
    true_cfg = request["true_cfg_scale"] if request["true_cfg_scale"] > 1 else 1.0
    print(params)

    failures = []

    def check(what, got, want):
        ok = got == want
        print(f"  {'ok ' if ok else 'BAD'} {what}: {got!r}" + ("" if ok else f" (want {want!r})"))
        if not ok:
            failures.append(what)

    print("A1111 parse_generation_parameters:")
    a = parse_generation_parameters(params)
    loras = request.get("loras", [])
    tags = "".join(f" <lora:{l['name']}:{infotext_number(l['weight'])}>" for l in loras)
    check("Prompt", a["Prompt"], (request["prompt"] + tags).strip())
    got = prompt_loras(a["Prompt"])
    check("LoRA tags (name, weight)", [(n, round(w, 6)) for n, w in got], [(l["name"], round(l["weight"], 6)) for l in loras])
    if loras or "Lora hashes" in a:
        hashes = lora_hashes(a.get("Lora hashes", ""))
        names = {l["name"] for l in loras}
        check("Lora hashes names", sorted(hashes), sorted(names))
        files = {re.sub(r"\.safetensors$", "", p.split("/")[-1]): p for p in args.lora}
        for name in sorted(names):
            if name in files:
                check(f"Lora hash of {name}", hashes.get(name), addnet_hash(files[name]))
            else:
                check(f"Lora hash of {name} (12 hex digits; give --lora FILE to check its value)",
                      bool(re.fullmatch(r"[0-9a-f]{12}", hashes.get(name, ""))), True)
    check("Sampler", a.get("Sampler"), "Euler")
    check("Schedule type", a.get("Schedule type"), "Simple")
    check("Steps", int(a.get("Steps", -1)), request["steps"])
    check("Seed", int(a.get("Seed", -1)), request["seed"])
    check("Size", (int(a.get("Size-1", -1)), int(a.get("Size-2", -1))), (width, height))
    check("CFG scale", float(a["CFG scale"]), float(true_cfg))
    check("Distilled CFG Scale", float(a.get("Distilled CFG Scale", "nan")), float(request["guidance"]))
    check("Model hash", a.get("Model hash"), model_hash)
    check("Model", bool(a.get("Model")), True)

    print("sd-parsers:")
    info = ParserManager().parse(args.png)
    check("generator", info.generator.name if info else None, "AUTOMATIC1111")
    s = info.samplers[0]
    check("sampler", s.name, "Euler")
    check("scheduler", s.parameters.get("scheduler"), "Simple")
    check("steps", int(s.parameters.get("steps", -1)), request["steps"])
    check("seed", int(s.parameters.get("seed", -1)), request["seed"])
    check("cfg_scale", float(s.parameters.get("cfg_scale", "nan")), float(true_cfg))
    check("Size", info.metadata.get("Size"), f"{width}x{height}")
    check("Distilled CFG Scale", float(info.metadata.get("Distilled CFG Scale", "nan")), float(request["guidance"]))
    check("model hash", s.model.hash if s.model else None, model_hash)
    check("prompt", str(s.prompts[0]) if s.prompts else None, (request["prompt"] + tags).strip())

    if failures:
        sys.exit(f"{len(failures)} field(s) wrong: {', '.join(failures)}")
    print("all fields read back as written")


if __name__ == "__main__":
    main()
