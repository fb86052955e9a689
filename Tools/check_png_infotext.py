#!/usr/bin/env python3
"""Round trip of our PNG parameters through the readers other tools use (issue #23).

  .build/release/majicflux generate --model Models/default --prompt "a red cube, studio light" \
      --steps 3 --seed 1234 --width 128 --height 96 --guidance 4.5 --output /tmp/infotext.png
  /work/venv/bin/python Tools/check_png_infotext.py /tmp/infotext.png \
      --dit Models/default/transformer/diffusion_pytorch_model.safetensors

(/work/venv: pip install sd-parsers pillow.) The PNG's `parameters` chunk is parsed twice:

1. with A1111's own code, reimplemented: `parse_generation_parameters` of
   modules/infotext_utils.py (stable-diffusion-webui 1.10; the same in Forge), whose field regex is
   `\\s*(\\w[\\w \\-/]+):\\s*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)`;
2. with the PyPI package sd-parsers (its AUTOMATIC1111 parser), which image browsers build on.

Both must give the sampler (`Euler`, schedule `Simple`), steps, seed, size, CFG scale, distilled CFG
scale and model name/hash that the `majicflux` chunk (the request as JSON) and the DiT file say; the
expected model hash is A1111's short hash computed here: the first 10 hex digits of the file's sha256.
Exits non-zero on any mismatch.
"""
import argparse, hashlib, json, re, sys

# modules/infotext_utils.py (A1111 1.10): the field pattern and the size pattern.
RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")


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
    check("Prompt", a["Prompt"], request["prompt"].strip())
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
    check("prompt", str(s.prompts[0]) if s.prompts else None, request["prompt"].strip())

    if failures:
        sys.exit(f"{len(failures)} field(s) wrong: {', '.join(failures)}")
    print("all fields read back as written")


if __name__ == "__main__":
    main()
