#!/usr/bin/env bash
# Issues 21 and 22 on the GPU machine, one call (carry .device: majicflux.xz, cuda-check.xz):
#   gguf      cuda-check gguf: every ggml format expanded on the GPU vs the CPU decoder, now also to
#             per-row e4m3 (codes and row scales); expand + GEMM times
#   dit-gguf  cuda-check dit-gguf 1024 q8_0: full-size DiT, Q8_0 expanded to bf16 / per-tensor e4m3 /
#             per-row e4m3 (the loader's default) vs bf16 and fp8 (step time, error vs bf16)
#   dit-batch cuda-check dit-batch 512: a full-size DiT stepping N = 1, 2, 4 pictures in one call (bf16, fp8)
#   user      on the tiny FLUX fixture model (Tests/ModelsTests/Fixtures/tiny-flux): `generate --device cuda --batch 4` (images/s),
#             `generate --precision q8_0` (GGUF blocks on the GPU, per-row e4m3), `generate --cache 0.06`;
#             then `serve --device cuda` (fp8 and q8_0) through the JSON and A1111 APIs (a batch_size 2
#             call, step-cached jobs) with Tools/cuda/serve_check.py
#   final     (STAGES=final, the session's last binary) `quantize --format gguf-q8_0` of the fixture DiT,
#             `generate --dit that.gguf` and `--precision q8_0` on the GPU, `serve --precision q8_0`
# Everything lands in $OUT/logs.tgz.
set -u
. Tools/cuda/device_setup.sh
M=Tests/ModelsTests/Fixtures/tiny-flux  # the default model's weights do not fit the carry limit beside the executables
for s in ${STAGES:-gguf dit-gguf dit-batch user}; do
  echo "=== $s $(date +%T)"
  case $s in
    gguf) timeout 120 /tmp/bin/cuda-check gguf 2>&1 | tee "$OUT/gguf.log" ;;
    dit-gguf) timeout 200 /tmp/bin/cuda-check dit-gguf 1024 q8_0 2>&1 | tee "$OUT/dit-gguf.log" ;;
    dit-batch) timeout 120 /tmp/bin/cuda-check dit-batch 512 2>&1 | tee "$OUT/dit-batch.log" ;;
    user)
      P="a red circle on the left on a white background"
      for run in "batch4:--precision fp8 --batch 4" "batch1:--precision fp8" "q8_0:--precision q8_0" "cache:--precision fp8 --cache 0.06"; do
        name=${run%%:*}; extra=${run#*:}
        timeout 120 /tmp/bin/majicflux generate --model $M --device cuda $extra --prompt "$P" --seed 7 --steps 20 \
          --width 512 --height 512 --output "$OUT/gen-$name.png" > "$OUT/gen-$name.log" 2>&1
        echo "generate $name: exit $? $(tail -3 "$OUT/gen-$name.log" | tr '\n' ' ' | cut -c1-400)"
      done
      ls -la "$OUT"/gen-*.png
      timeout 240 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model $M --out "$OUT" \
        --runs "${RUNS:-fp8,q8_0}" --size 512 --steps 20 2>&1 | tee "$OUT/serve_check.log" ;;
    final)
      # The final binary's user paths for GGUF on the GPU: quantize the fixture DiT to a Q8_0 .gguf,
      # generate with it, and --precision q8_0 through generate and serve (Q8_0 now as per-tensor e4m3).
      timeout 60 /tmp/bin/majicflux quantize $M/transformer/diffusion_pytorch_model.safetensors /tmp/dit-q8_0.gguf \
        --format gguf-q8_0 > "$OUT/quantize.log" 2>&1; echo "quantize: exit $? $(tail -2 "$OUT/quantize.log" | tr '\n' ' ' | cut -c1-300)"
      for run in "gguf-file:--dit /tmp/dit-q8_0.gguf" "q8_0:--precision q8_0"; do
        name=${run%%:*}; extra=${run#*:}
        timeout 120 /tmp/bin/majicflux generate --model $M --device cuda $extra --prompt "a red circle" --seed 7 --steps 20 \
          --width 512 --height 512 --output "$OUT/final-$name.png" > "$OUT/final-$name.log" 2>&1
        echo "generate $name: exit $? $(tail -3 "$OUT/final-$name.log" | tr '\n' ' ' | cut -c1-400)"
      done
      timeout 120 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model $M --out "$OUT" \
        --runs q8_0 --size 512 --steps 20 2>&1 | tail -2 ;;
  esac
done
rm -rf "$OUT"/serve-*/
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
echo "=== done $(date +%T)"
