#!/usr/bin/env bash
# Issues 19, 21 and 22 on the GPU machine, one call (carry .device: majicflux.xz, cuda-check.xz, site.tar.xz):
#   gguf      cuda-check gguf: every ggml format expanded on the GPU vs the CPU decoder; expand + GEMM times
#   dit-gguf  cuda-check dit-gguf: full-size DiT with Q8_0 / Q4_K block Linears vs bf16 and fp8 (step, error)
#   dit-fp8   cuda-check dit-fp8 1024: the fp8 step and a step reusing the first-block cache
#   make      the FLUX.1-dev-size random folder (/tmp/flux-random)
#   serve     `majicflux serve --device cuda` (SQLite store) through our JSON API and the A1111 API,
#             `serve --gpus 0`, a step-cached job (Tools/cuda/serve_check.py)
#   small     (last: it deletes the folder's DiT shards) the DiT to a Q4_K .gguf and T5-XXL to a Q8_0
#             .gguf with `majicflux quantize`, then `majicflux generate` 1024x1024 20 steps with both within --vram-budget 6: peak RSS and device peak
# Everything lands in $OUT/logs.tgz. Three calls fit the 10-minute limit: STAGES="gguf dit-gguf dit-fp8",
# "make serve", then "make small" (the machine stays warm between calls that follow at once).
set -u
. Tools/cuda/device_setup.sh
R=/tmp/flux-random
for s in ${STAGES:-gguf dit-gguf dit-fp8 make serve small}; do
  echo "=== $s $(date +%T)"
  case $s in
    gguf) timeout 180 /tmp/bin/cuda-check gguf 2>&1 | tee "$OUT/gguf.log" ;;
    dit-gguf) timeout 400 /tmp/bin/cuda-check dit-gguf ${DIT_SIZES:-1024 512} 2>&1 | tee "$OUT/dit-gguf.log" ;;
    dit-fp8) timeout 150 /tmp/bin/cuda-check dit-fp8 1024 2>&1 | grep -v "^  [0-9]" | tee "$OUT/dit-fp8.log" ;;
    make)
      [ -d $R/transformer ] || timeout 240 python3 Tools/cuda/e2e_generate.py make $R 2>&1 \
        | grep -v -i "warn\|Writing model shards\|kept in float32" | tee "$OUT/make.log" ;;
    small)
      # GGUF DiT files carry BFL names (city96 / ComfyUI-GGUF): the random folder's diffusers DiT to one
      # BFL file first (Tools/flux_layouts.py), then its shards go (the disk holds 64 GiB).
      PYTHONPATH=/tmp/site:Tools timeout 400 python3 -c "
import glob; from safetensors.torch import load_file, save_file; from flux_layouts import flux_to_bfl
sd = {}
for f in sorted(glob.glob('$R/transformer/*.safetensors')): sd.update(load_file(f))
save_file(flux_to_bfl(sd), '/tmp/dit-bfl.safetensors')" 2>&1 | tail -3
      rm -f $R/transformer/*.safetensors $R/transformer/*.index.json; ls -la /tmp/dit-bfl.safetensors; df -h /tmp | tail -1
      /usr/bin/time -v /tmp/bin/majicflux quantize /tmp/dit-bfl.safetensors /tmp/dit-q4_k.gguf --format gguf-q4_k --quiet > "$OUT/quantize-dit.log" 2>&1
      echo "quantize DiT: exit $? $(grep -E 'Elapsed|Maximum resident' "$OUT/quantize-dit.log" | tr -s ' ' | tr '\n' ' ')"; ls -la /tmp/dit-q4_k.gguf; rm -f /tmp/dit-bfl.safetensors
      /usr/bin/time -v /tmp/bin/majicflux quantize $R/text_encoder_2 /tmp/t5-q8_0.gguf --format gguf-q8_0 --all-linear --quiet > "$OUT/quantize-t5.log" 2>&1
      echo "quantize T5: exit $? $(grep -E 'Elapsed|Maximum resident' "$OUT/quantize-t5.log" | tr -s ' ' | tr '\n' ' ')"; ls -la /tmp/t5-q8_0.gguf
      sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
      for run in "q4_k:--precision gguf"; do
        name=${run%%:*}; extra=${run#*:}
        /usr/bin/time -v timeout 400 /tmp/bin/majicflux generate --model $R --dit /tmp/dit-q4_k.gguf --text-encoder-2 /tmp/t5-q8_0.gguf \
          $extra --device cuda --vram-budget 6 --prompt "a red circle on the left on a white background" --seed 1 --steps 20 \
          --width 1024 --height 1024 --output "$OUT/small-$name.png" > "$OUT/small-$name.log" 2>&1
        echo "generate $name: exit $? $(grep -E 'GPU memory|Elapsed|Maximum resident' "$OUT/small-$name.log" | tr -s ' ' | tr '\n' ' ')"
      done ;;
    serve) timeout 560 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model $R --out "$OUT" \
             --runs "${RUNS:-fp8,fp8-gpus0}" 2>&1 | tee "$OUT/serve_check.log" ;;
  esac
done
rm -rf "$OUT"/serve-*/
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
echo "=== done $(date +%T)"
