#!/usr/bin/env python3
"""Drives a running majicflux server through its A1111-compatible API with a real third-party
client, the `webuiapi` package from PyPI (pinned in scripts/ci-python-client.sh), and checks what
that client gets back. Run by Tests/AppTests/A1111ClientTests.swift; by hand:

    python Tools/a1111_client_check.py --port 6006 [--token TOKEN] [--width 64 --height 64 --steps 2]

Prints one line per check and "ALL CHECKS PASSED" at the end; exits 1 at the first failure.
"""
import argparse
import base64
import io
import json
import sys
import threading
import time

import webuiapi
from PIL import Image


def check(condition, what):
    if not condition:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def infotext_fields(text):
    """The `Key: value` fields of an infotext's last line, as A1111's parse_generation_parameters reads them."""
    import re
    last = text.strip().split("\n")[-1]
    pattern = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    return {k: v for k, v in pattern.findall(last)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", default=None)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--slow-size", type=int, default=256, help="side of the pictures of the batch that is interrupted")
    p.add_argument("--slow-steps", type=int, default=100, help="their steps: long enough to be seen running")
    a = p.parse_args()

    api = webuiapi.WebUIApi(host=a.host, port=a.port, sampler="Euler", scheduler="Simple", steps=a.steps)
    if a.token:
        api.session.headers["Authorization"] = f"Bearer {a.token}"
    print(f"webuiapi {getattr(webuiapi, '__version__', '?')} against http://{a.host}:{a.port}", flush=True)

    models = api.get_sd_models()
    check(isinstance(models, list) and len(models) == 1 and "title" in models[0] and "model_name" in models[0],
          f"get_sd_models lists the served model: {models[0].get('title') if models else None}")
    title = models[0]["title"]

    options = api.get_options()
    check(options.get("sd_model_checkpoint") == title, "get_options names the served checkpoint")
    api.set_options({"samples_format": "png", "some_unknown_option": 1})
    check(api.get_options().get("samples_format") == "png", "set_options accepted (unknown keys ignored)")
    check(api.util_get_current_model() == title, "util_get_current_model")
    check("Euler" in api.util_get_sampler_names(), "samplers list Euler")
    # What clients read on connect: lists as an A1111 with nothing installed gives them.
    check([u["name"] for u in api.get_upscalers()] == ["None", "Lanczos", "Nearest"], "get_upscalers: A1111's built-in ones")
    check([m["name"] for m in api.get_latent_upscale_modes()][:2] == ["Latent", "Latent (antialiased)"], "get_latent_upscale_modes")
    for getter in (api.get_sd_vae, api.get_hypernetworks, api.get_face_restorers,
                   api.get_realesrgan_models, api.get_prompt_styles):
        check(getter() == [], f"{getter.__name__}: an empty list")
    check(api.get_embeddings() == {"loaded": {}, "skipped": {}}, "get_embeddings: none")
    check(api.get_scripts() == {"txt2img": [], "img2img": []}, "get_scripts: none")
    check(api.refresh_checkpoints() is None, "refresh_checkpoints answers null")
    sha = models[0].get("sha256")
    check(sha is None or (len(sha) == 64 and sha.startswith(models[0]["hash"])), f"sd-models sha256 is the whole hash: {sha}")

    idle = api.get_progress()
    check(idle["progress"] == 0 and idle["state"]["job_count"] == 0, "get_progress when idle: 0, no job")

    # txt2img: 2 batches of 2; seeds seed, seed+1, seed+2, seed+3.
    r = api.txt2img(prompt="a red square", seed=1234, batch_size=2, n_iter=2, cfg_scale=1,
                    width=a.width, height=a.height, steps=a.steps)
    check(len(r.images) == 4, f"txt2img batch_size 2 x n_iter 2 gives 4 pictures (got {len(r.images)})")
    check(all(im.size == (a.width, a.height) for im in r.images), "each picture has the asked size")
    check(isinstance(r.info, dict), "info is a JSON string the client parsed")
    check(r.info["all_seeds"] == [1234, 1235, 1236, 1237], f"seeds follow A1111: {r.info['all_seeds']}")
    texts = r.info["infotexts"]
    check(len(texts) == 4, "one infotext per picture")
    for i, t in enumerate(texts):
        f = infotext_fields(t)
        check(f.get("Seed") == str(1234 + i) and f.get("Steps") == str(a.steps) and f.get("Sampler") == "Euler"
              and f.get("Size") == f"{a.width}x{a.height}" and "Schedule type" in f and "CFG scale" in f
              and "Distilled CFG Scale" in f and "Model" in f, f"infotext {i} parses: {f}")
    png_params = r.images[0].info.get("parameters", "")
    check(png_params == texts[0], "the PNG's own parameters chunk equals info.infotexts[0]")
    # png_info (the client re-encodes the picture with its text chunks): the infotext and its fields back.
    pi = api.png_info(r.images[0])
    check(pi.info == texts[0], "png_info reads the picture's infotext back")
    check(pi.parameters.get("Prompt") == "a red square" and pi.parameters.get("Seed") == "1234"
          and pi.parameters.get("Size-1") == str(a.width) and pi.parameters.get("Size-2") == str(a.height),
          f"png_info parameters as A1111's parse_generation_parameters: {dict(list(pi.parameters.items())[:6])}")
    check(r.images[0].tobytes() != r.images[1].tobytes(), "different seeds give different pictures")

    # samples_format jpg: JPEGs whose EXIF UserComment is the infotext, as A1111's encode_pil_to_base64 sends.
    api.set_options({"samples_format": "jpg", "jpeg_quality": 90})
    j = api.txt2img(prompt="a red square", seed=1234, cfg_scale=1, width=a.width, height=a.height, steps=a.steps)
    comment = j.images[0].getexif().get_ifd(0x8769).get(0x9286, b"")
    check(j.images[0].format == "JPEG" and comment[:8] == b"UNICODE\0", f"samples_format jpg gives a JPEG ({j.images[0].format})")
    check(comment[8:].decode("utf-16-be") == j.info["infotexts"][0], "its EXIF UserComment is the infotext, as A1111 writes it")
    # samples_format webp: the same in a WebP's EXIF chunk (Pillow reads it with getexif()).
    api.set_options({"samples_format": "webp"})
    w = api.txt2img(prompt="a red square", seed=1234, cfg_scale=1, width=a.width, height=a.height, steps=a.steps)
    comment = w.images[0].getexif().get_ifd(0x8769).get(0x9286, b"")
    check(w.images[0].format == "WEBP" and comment[:8] == b"UNICODE\0", f"samples_format webp gives a WebP ({w.images[0].format})")
    check(comment[8:].decode("utf-16-be") == w.info["infotexts"][0], "its EXIF UserComment is the infotext")
    api.set_options({"samples_format": "png"})

    # The hires fix: the first pass at width x height, the picture at twice the size, A1111's fields.
    hr = api.txt2img(prompt="a red square", seed=1234, cfg_scale=1, width=a.width, height=a.height, steps=a.steps,
                     enable_hr=True, hr_scale=2, hr_upscaler="Lanczos", denoising_strength=0.6, hr_second_pass_steps=a.steps + 1)
    f = infotext_fields(hr.info["infotexts"][0])
    check(hr.images[0].size == (2 * a.width, 2 * a.height), f"enable_hr hr_scale 2 gives a picture twice the size: {hr.images[0].size}")
    check(f.get("Size") == f"{a.width}x{a.height}" and f.get("Hires upscale") == "2" and f.get("Hires upscaler") == "Lanczos"
          and f.get("Denoising strength") == "0.6" and f.get("Hires steps") == str(a.steps + 1), f"hires infotext as A1111's: {f}")
    check(hr.info["extra_generation_params"].get("Hires upscaler") == "Lanczos", "info.extra_generation_params has the hires fields")

    # Same seed again: the same picture.
    again = api.txt2img(prompt="a red square", seed=1234, cfg_scale=1, width=a.width, height=a.height, steps=a.steps)
    check(again.images[0].tobytes() == r.images[0].tobytes(), "the same seed gives the same picture")

    # img2img from the first picture, with a mask.
    mask = Image.new("L", (a.width, a.height), 0)
    mask.paste(255, (0, 0, a.width // 2, a.height))
    i2i = api.img2img(images=[r.images[0]], mask_image=mask, prompt="a blue square", seed=7, cfg_scale=1,
                      denoising_strength=0.5, width=a.width, height=a.height, steps=a.steps)
    check(len(i2i.images) == 1 and i2i.images[0].size == (a.width, a.height), "img2img with a mask gives a picture")
    f = infotext_fields(i2i.info["infotexts"][0])
    check(f.get("Denoising strength") == "0.5" and f.get("Seed") == "7", f"img2img infotext: {f}")

    # Extras: the built-in Lanczos upscaler, A1111's postprocessing text in the answer.
    ex = api.extra_single_image(image=r.images[0], upscaler_1="Lanczos", upscaling_resize=2)
    check(ex.image.size == (2 * a.width, 2 * a.height), f"extra_single_image Lanczos x2: {ex.image.size}")
    check(ex.info == "<p>Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos</p>", f"extras html_info as A1111's: {ex.info}")
    check(ex.image.info.get("parameters") == texts[0], "the upscaled picture keeps the infotext")
    check(ex.image.resize((a.width, a.height), Image.LANCZOS).size == r.images[0].size, "the upscaled picture opens in Pillow")

    # Interrupt a long batch while it runs: fewer pictures come back.
    result = {}
    def long_job():
        result["r"] = api.txt2img(prompt="interrupt me", seed=5, batch_size=1, n_iter=6, cfg_scale=1,
                                  width=a.slow_size, height=a.slow_size, steps=a.slow_steps)
    t = threading.Thread(target=long_job)
    t.start()
    seen_running = False
    deadline = time.time() + 60
    while time.time() < deadline:
        pr = api.get_progress()
        if pr["state"]["job_count"] == 6 and pr["state"]["sampling_step"] >= 1:
            seen_running = True
            check(0 < pr["progress"] <= 1 and pr["eta_relative"] >= 0, f"get_progress while running: {pr['progress']:.3f}")
            break
        time.sleep(0.005)
    check(seen_running, "the long batch was seen running")
    check(api.interrupt() == {}, "interrupt answers {}")
    t.join(60)
    check(not t.is_alive(), "the interrupted request returned")
    got = result["r"]
    check(len(got.images) < 6, f"interrupt stopped the batch ({len(got.images)} of 6 pictures)")
    print("ALL CHECKS PASSED", flush=True)


if __name__ == "__main__":
    main()
