#!/usr/bin/env bash
# Issue 21 (GPU speed II) on the GPU machine, sessions 2026-12-04 (7 and 8). Carry .device (cuda-check.xz,
# majicflux.xz, site.tar.xz for the PyTorch stages). Stages (STAGES, in order):
#   attn      cuda-check attn-fp8 (fp8 attention vs the CPU and the bf16 kernel: error, speed) and flash
#   flash     cuda-check flash (every flash kernel vs the CPU, wgmma3pp included), attn-fp8 with and
#             without the consumers' ping-pong (MAJICFLUX_CUDA_FLASH=wgmma3pp)
#   graphs    cuda-check dit / dit-fp8 at SIZES with bf16 attention: steps replayed as CUDA graphs, the
#             same step op by op, replay == op by op, the other flash kernels, profile
#   fusedamax cuda-check dit-fp8 at SIZES with MAJICFLUX_FP8_FUSED_AMAX=1 (amax from the producers)
#   lora      cuda-check dit-lora 1024 (LoRA step overhead, now replayed as graphs) and cuda-check lora
#             (the tiny pipeline with LoRAs on the GPU vs the CPU)
#   heldout   the default model's 96 held-out prompts on the GPU, bf16/fp8 weights x bf16/fp8 attention,
#             pictures to $OUT/heldout (scored here afterwards by Tools/score_heldout.py)
#   dit       cuda-check dit / dit-fp8 at SIZES (1024 512), bf16 attention then fp8 attention
#             (MAJICFLUX_CUDA_ATTENTION=fp8): steps, errors vs all-bf16, profile
#   ditfp8    only dit-fp8 with fp8 attention (the fastest configuration) at SIZES
#   trace     cuda-check attn-trace: the fp8 attention kernel timed, its error, and its consumers' timeline
#             (clock64 per key tile), with and without ping-pong (session 17)
#   ab        this build against the previous one on the same card (session 18: the key tile's order):
#             attn-trace, flash (bf16 kernels vs the CPU, timed), dit-fp8 with fp8 attention at SIZES and
#             dit 1024 with each; needs .device/cuda-check-old.xz and DEVICE_BINARIES="cuda-check cuda-check-old"
#   sched     cuda-check dit-fp8 with fp8 attention at SIZES, then the bf16 step (dit 1024) (session 18;
#             the key-tile orders and lazy variants it compared then were removed after measuring slower)
#   quant     cuda-check quantfuse (activation quantisation from producers; helper's check)
#   delayed   cuda-check delayed at SIZES: delayed e4m3 scales of the GELU GEMMs (exact then delayed,
#             cuBLASLt's amax of D, saturation, the single block's matrix, times, DiT step off/on)
#             (session 19)
#   torch     PyTorch eager and torch.compile(fullgraph, fused QKV) steps at SIZES in the same call
#             (TORCH_FLAGS= leaves out the compiled run)
#   ops       cuda-check ops and pipeline (the tiny model on the GPU vs the CPU)
#   tiny      generate and serve (serve_check) fp8 on the tiny fixture, with --attention fp8
#   make      the FLUX.1-dev-size random folder in /tmp/flux-random and its model hash
#   cold      `generate --precision fp8 [--attention fp8]` 1024x1024 20 steps twice on it
#   serve     serve_check (RUNS) on the full-size folder, then diffusers' warm call
#   user      Tools/cuda/user_paths_check.py on the tiny fixture: sessions 9-11's user paths (hires fix,
#             img2img batches, quantized diffusers DiTs as --dit, WebP, A1111 enable_hr / extras / png-info
#             through serve) on the GPU against the CPU (session 12)
#   final     the quantize path on the tiny fixture: quantize to a Q8_0 .gguf, generate with it and with
#             --precision q8_0, serve_check q8_0
# Everything lands in $OUT/logs.tgz (heldout pictures in it too).
set -u
. Tools/cuda/device_setup.sh
for s in ${STAGES:-attn dit}; do
  echo "=== $s $(date +%T)"
  case $s in
    flash) timeout 120 /tmp/bin/cuda-check flash 2>&1 | tee "$OUT/flash.log" | grep -E "FAIL|wgmma3|passed" | tail -12
      timeout 120 /tmp/bin/cuda-check attn-fp8 2>&1 | tee "$OUT/attn-fp8.log" | tail -4
      MAJICFLUX_CUDA_FLASH=wgmma3pp timeout 120 /tmp/bin/cuda-check attn-fp8 2>&1 | tee "$OUT/attn-fp8-pp.log" | tail -4 ;;
    graphs) for k in dit dit-fp8; do timeout 240 /tmp/bin/cuda-check $k ${SIZES:-1024 512} 2>&1 | tee "$OUT/$k.log" \
        | grep -E "^dit|error|again|graphs|without graphs|same step with|flash attention \(1, 24, 4608|^profile" ; done ;;
    fusedamax) MAJICFLUX_FP8_FUSED_AMAX=1 timeout 240 /tmp/bin/cuda-check dit-fp8 ${SIZES:-1024 512} 2>&1 | tee "$OUT/dit-fp8-fusedamax.log" \
        | grep -E "^dit|error|graphs|without graphs|same step with the wgmma3 " ;;
    lora) timeout 240 /tmp/bin/cuda-check dit-lora 1024 2>&1 | tee "$OUT/dit-lora.log" | grep -E "^dit|switching|fused"
      timeout 120 /tmp/bin/cuda-check lora Tests/ModelsTests/Fixtures/tiny-flux Tests/ModelsTests/Fixtures/lora 2>&1 | tee "$OUT/lora.log" | tail -8 ;;
    attn) timeout 120 /tmp/bin/cuda-check attn-fp8 2>&1 | tee "$OUT/attn-fp8.log"
      timeout 120 /tmp/bin/cuda-check flash 2>&1 | tee "$OUT/flash.log" | tail -4 ;;
    heldout) timeout 420 /tmp/bin/cuda-check heldout Models/default "$OUT/heldout" 2>&1 | tee "$OUT/heldout.log" ;;
    dit) for k in dit dit-fp8; do timeout 200 /tmp/bin/cuda-check $k ${SIZES:-1024 512} 2>&1 | tee "$OUT/$k.log" | grep -E "^dit|error|again|fp8 attention|flash attention \(1, 24, 4608|TOTAL|total" ; done
      for k in dit dit-fp8; do MAJICFLUX_CUDA_ATTENTION=fp8 timeout 200 /tmp/bin/cuda-check $k ${SIZES:-1024 512} 2>&1 | tee "$OUT/$k-attn8.log" | grep -E "^dit|error|again|fp8 attention|TOTAL|total"; done ;;
    ditfp8) MAJICFLUX_CUDA_ATTENTION=fp8 timeout 200 /tmp/bin/cuda-check dit-fp8 ${SIZES:-1024 512} 2>&1 | tee "$OUT/dit-fp8-attn8-b.log" | grep -E "^dit|error|again|fp8 attention" ;;
    trace) timeout 200 /tmp/bin/cuda-check attn-trace 2>&1 | tee "$OUT/attn-trace.log" ;;
    ab) for b in cuda-check-old cuda-check; do
        timeout 150 /tmp/bin/$b attn-trace 2>&1 | tee "$OUT/attn-trace-$b.log" | grep -E " ms \(" | sed "s/^/$b /"
        timeout 120 /tmp/bin/$b flash 2>&1 | tee "$OUT/flash-$b.log" | grep -E "time|flash wgmma3|FAIL" | sed "s/^/$b /"
        MAJICFLUX_CUDA_ATTENTION=fp8 timeout 200 /tmp/bin/$b dit-fp8 ${SIZES:-1024 512} 2>&1 | tee "$OUT/dit-fp8-$b.log" \
          | grep -E "^dit|error|again" | sed "s/^/$b /"
        timeout 200 /tmp/bin/$b dit 1024 2>&1 | tee "$OUT/dit-$b.log" | grep -E "^dit|again|^  [0-9]+ ms .*flash" | sed "s/^/$b /"
      done ;;
    sched) MAJICFLUX_CUDA_ATTENTION=fp8 timeout 200 /tmp/bin/cuda-check dit-fp8 ${SIZES:-1024 512} 2>&1 | tee "$OUT/dit-fp8.log" \
        | grep -E "^dit|error|again"
      timeout 200 /tmp/bin/cuda-check dit 1024 2>&1 | tee "$OUT/dit-bf16.log" | grep -E "^dit|again|^  [0-9]+ ms .*flash" ;;
    quant) timeout 200 /tmp/bin/cuda-check quantfuse 2>&1 | tee "$OUT/quantfuse.log" | tail -30 ;;
    delayed) timeout 300 /tmp/bin/cuda-check delayed ${SIZES:-1024 512} 2>&1 | tee "$OUT/delayed.log" | grep -vE "^  [0-9]" | tail -40 ;;
    ops) timeout 150 /tmp/bin/cuda-check ops 2>&1 | tee "$OUT/ops.log" | grep -E "FAIL|passed|of " | tail -8
      timeout 120 /tmp/bin/cuda-check pipeline Tests/ModelsTests/Fixtures/tiny-flux 2>&1 | tee "$OUT/pipeline.log" | tail -6 ;;
    tiny)
      M=Tests/ModelsTests/Fixtures/tiny-flux
      # The default model's weights stay here when the tree is slimmed (Tools/cuda/slim_tree.sh).
      [ -s Models/default/transformer/diffusion_pytorch_model.safetensors ] || echo "(no Models/default weights: the default-model run below fails)"
      timeout 60 /tmp/bin/majicflux generate --model $M --device cuda --precision fp8 --attention fp8 --prompt "a red circle" --seed 7 --steps 20 \
        --width 512 --height 512 --output "$OUT/tiny.png" > "$OUT/tiny.log" 2>&1; echo "generate tiny: exit $? $(grep -E 'times:' "$OUT/tiny.log")"
      timeout 60 /tmp/bin/majicflux generate --device cuda --precision fp8 --attention fp8 --prompt "a red circle on the left on a white background" --seed 1 --steps 20 \
        --width 128 --height 128 --output "$OUT/default-attn8.png" > "$OUT/default.log" 2>&1; echo "generate default model --attention fp8: exit $? $(grep -E 'times:' "$OUT/default.log")"
      timeout 150 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model $M --out "$OUT" --runs fp8 --size 512 --steps 20 2>&1 \
        | tee "$OUT/serve_tiny.log" | tail -2 ;;
    make)
      [ -d /tmp/flux-random/transformer ] || timeout 300 python3 Tools/cuda/e2e_generate.py make /tmp/flux-random 2>&1 \
        | grep -v -i "warn\|Writing model shards\|kept in float32" | tee "$OUT/make.log"
      python3 Tools/cuda/seed_model_hash.py /tmp/flux-random 2>&1 | tee -a "$OUT/make.log" ;;
    cold)
      for run in 1 2; do
        /usr/bin/time -f "wall %e s, user %U s, sys %S s, max RSS %M KB" timeout 120 /tmp/bin/majicflux generate --model /tmp/flux-random \
          --device cuda --precision fp8 ${COLD_ATTN:-} --width 1024 --height 1024 --steps 20 --seed 1 --prompt "a red circle on the left on a white background" \
          --output "$OUT/cold$run.png" > "$OUT/cold$run.log" 2>&1
        echo "cold generate $run: exit $? $(grep -E 'times:|wall ' "$OUT/cold$run.log" | tr '\n' ' ')"
      done ;;
    serve)
      timeout 400 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model /tmp/flux-random --out "$OUT" \
        --runs "${RUNS:-fp8,bf16}" 2>&1 | tee "$OUT/serve_check.log" | tail -4
      grep -h "times:\|plan" "$OUT"/serve-*.log 2>/dev/null | tail -12
      [ -n "${NO_DIFFUSERS:-}" ] || timeout 200 python3 Tools/cuda/e2e_generate.py torch /tmp/flux-random --size 1024 --steps 20 2>&1 | grep -v -i warn | tee "$OUT/diffusers.log" ;;
    final)
      M=Tests/ModelsTests/Fixtures/tiny-flux
      timeout 60 /tmp/bin/majicflux quantize $M/transformer/diffusion_pytorch_model.safetensors /tmp/dit-q8_0.gguf \
        --format gguf-q8_0 > "$OUT/quantize.log" 2>&1; echo "quantize: exit $? $(tail -2 "$OUT/quantize.log" | tr '\n' ' ' | cut -c1-300)"
      for run in "gguf-file:--dit /tmp/dit-q8_0.gguf" "q8_0:--precision q8_0"; do
        name=${run%%:*}; extra=${run#*:}
        timeout 120 /tmp/bin/majicflux generate --model $M --device cuda $extra --prompt "a red circle" --seed 7 --steps 20 \
          --width 512 --height 512 --output "$OUT/final-$name.png" > "$OUT/final-$name.log" 2>&1
        echo "generate $name: exit $? $(tail -3 "$OUT/final-$name.log" | tr '\n' ' ' | cut -c1-400)"
      done
      timeout 120 python3 Tools/cuda/serve_check.py --bin /tmp/bin/majicflux --model $M --out "$OUT" --runs q8_0 --size 512 --steps 20 2>&1 | tail -2 ;;
    user) timeout 400 python3 Tools/cuda/user_paths_check.py --bin /tmp/bin/majicflux --model Tests/ModelsTests/Fixtures/tiny-flux \
        --out "$OUT/user" 2>&1 | tee "$OUT/user.log" | grep -E "FAIL|user paths|PSNR|serve:" ;;
    torch) timeout 400 python3 .device/bench_flux_dit_torch.py ${TORCH_FLAGS---compile} ${SIZES:-1024 512} 2>&1 | grep -v Warning | tee "$OUT/torch.log" ;;
  esac
done
rm -rf "$OUT"/serve-*/
tar -czf /tmp/logs.tgz -C "$OUT" . && rm -rf "${OUT:?}"/* && mv /tmp/logs.tgz "$OUT/"
echo "=== done $(date +%T)"
