#if canImport(Glibc)
#if canImport(Glibc)
@preconcurrency import Glibc  // stdout is a C global: set once here, before any other thread
#endif
import Glibc
#endif
import Tensor

/// cuda-check: checks the CUDA backend against the CPU backend and times it.
///
///     cuda-check ops                       every GPU op vs the CPU on random inputs (f32 and bf16)
///     cuda-check pipeline TINY_FLUX_DIR    the tiny-model pipeline on GPU vs CPU (PSNR)
///     cuda-check dit [1024|512 ...]        one FLUX.1-dev-size DiT step, random bf16 weights
///     cuda-check dit-fp8 [1024|512 ...]    the same with the block Linears in fp8 (and its error vs bf16)
///     cuda-check gemm                      cuBLASLt bf16 GEMM throughput
///     cuda-check flash                     both head-size-128 flash kernels vs the CPU, and their speed
///     cuda-check attn-fp8                  fp8 attention (--attention fp8) vs the CPU and bf16, and its speed
///     cuda-check attn-trace                where a key tile's time goes in the fp8 attention kernel (clock64 timeline)
///     cuda-check heldout MODEL OUT         the default model's held-out prompts, bf16/fp8 weights x attention
///     cuda-check upload                    mapped checkpoint bytes to the GPU: exactness at slot boundaries, GB/s for 1-8 readers
///     cuda-check kernel-cache              the kernel module cached on disk: compiled, read back, damaged files
///                                          recompiled and rewritten, an unwritable folder (new processes, timed)
///     cuda-check fp8                       fp8 linear layers (tensor cores and dequant path) vs bf16 at DiT shapes
///     cuda-check stream [GiB] [bf16] [slots] the DiT streamed within GiB of weights (default 4, fp8, 2
///                                          slots) vs all resident: step time, output, copy speed
///     cuda-check threads                   the backend driven from 8 threads at once vs the main thread; a
///                                          forced out-of-memory comes back as an error
///     cuda-check lora TINY_FLUX_DIR LORA_DIR the tiny pipeline with LoRAs on the GPU (f32/bf16/fp8, fused,
///                                          streamed) vs the CPU
///     cuda-check dit-lora [sizes]          a FLUX.1-dev-size DiT step with rank-16/64 LoRAs vs without; LoRA switching
///     cuda-check gguf                      GGUF blocks expanded on the GPU vs the CPU decoder, every format;
///                                          expand + GEMM vs resident bf16 / fp8 weights at the DiT's shapes
///     cuda-check dit-gguf [sizes] [formats] a FLUX.1-dev-size DiT with Q8_0 / Q4_K (or the listed) block Linears vs bf16 / fp8
///     cuda-check t5 MODEL_DIR              the folder's T5 encoder on the GPU: time per 512-token encode, profile
///     cuda-check dit-batch [sizes]         a FLUX.1-dev-size DiT stepping N = 1, 2, 4 pictures in one call (bf16, fp8)
///     cuda-check quantfuse [sizes]         fp8 activation quantisation with the producer's amax (LayerNorm partial
///                                          maxima, cuBLASLt amax of D) vs two passes: codes, timings, DiT step A/B
///     cuda-check delayed [sizes]           delayed e4m3 scales of the GELU GEMMs (exact then delayed, saturation,
///                                          the single block's matrix, times, DiT step off/on)
///     cuda-check kernels                   compiles every kernel with NVRTC (no GPU needed)
setvbuf(stdout, nil, _IOLBF, 0)  // line-buffered, so a log shows how far a crashed run got
OpenBLASSetup.prepareProcess()  // first, before other threads: OpenBLAS's core and thread timeout
let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    print("usage: cuda-check ops|pipeline DIR|dit [sizes]|dit-fp8 [sizes]|gemm|flash|attn-fp8|attn-trace|upload|kernel-cache|fp8|stream [GiB] [bf16] [slots]|kernels")
    exit(2)
}
if command == "ops-cpu" {
    // The op cases on the CPU only (checks the cases themselves without a GPU).
    for c in OpsCheck.cases() { print(c.name, c.run(CPUBackend.shared).shape) }
    exit(0)
}
if command == "kernels" {
    exit(KernelCompileCheck.run() ? 0 : 1)
}
if let why = CUDABackend.unavailableReason() {
    print("CUDA unavailable: \(why)")
    exit(3)
}
do {
    switch command {
    case "ops": exit(try OpsCheck.run() ? 0 : 1)
    case "pipeline":
        guard args.count >= 2 else { print("usage: cuda-check pipeline TINY_FLUX_DIR"); exit(2) }
        exit(try PipelineCheck.run(dir: args[1]) ? 0 : 1)
    case "dit": try DiTBench.run(sizes: args.dropFirst().compactMap { Int($0) })
    case "dit-fp8": try DiTBench.run(sizes: args.dropFirst().compactMap { Int($0) }, fp8: true)
    case "gemm": try GemmBench.run()
    case "lora":
        guard args.count >= 3 else { print("usage: cuda-check lora TINY_FLUX_DIR LORA_DIR"); exit(2) }
        exit(try LoRACheck.run(tinyDir: args[1], loraDir: args[2]) ? 0 : 1)
    case "dit-lora": try LoRACheck.bench(sizes: args.dropFirst().compactMap { Int($0) })
    case "conditioning":
        guard args.count >= 2 else { print("usage: cuda-check conditioning FIXTURES_DIR (Tests/ModelsTests/Fixtures)"); exit(2) }
        exit(try ConditioningCheck.run(fixtures: args[1]) ? 0 : 1)
    case "conditioning-bench":
        let rest = args.dropFirst()
        try ConditioningCheck.bench(vaeDir: rest.first { Int($0) == nil }, sizes: rest.compactMap { Int($0) }.isEmpty ? [1024] : rest.compactMap { Int($0) })
    case "flash": exit(try FlashCheck.run() ? 0 : 1)
    case "attn-fp8": exit(try AttentionFP8Check.run() ? 0 : 1)
    case "attn-trace": exit(try AttentionTraceCheck.run() ? 0 : 1)
    case "heldout":
        guard args.count >= 3 else { print("usage: cuda-check heldout MODEL_DIR OUT_DIR"); exit(2) }
        exit(try HeldOutCheck.run(modelDir: args[1], out: args[2]) ? 0 : 1)
    case "upload": exit(try UploadCheck.run() ? 0 : 1)
    case "kernel-cache": exit(try KernelCacheCheck.run() ? 0 : 1)
    case "kernel-cache-child":
        guard args.count >= 2 else { print("usage: cuda-check kernel-cache-child FOLDER"); exit(2) }
        exit(KernelCacheCheck.childMain(folder: args[1]))
    case "fp8": exit(try FP8Check.run() ? 0 : 1)
    case "quantfuse": exit(try QuantFuseCheck.run(sizes: args.dropFirst().compactMap { Int($0) }) ? 0 : 1)
    case "delayed": exit(try DelayedScaleCheck.run(sizes: args.dropFirst().compactMap { Int($0) }) ? 0 : 1)
    case "gguf": exit(try GGUFCheck.run() ? 0 : 1)
    case "dit-gguf":
        let formats = args.dropFirst().compactMap { a in BlockQuantFormat.allCases.first { $0.rawValue.lowercased() == a.lowercased() } }
        try GGUFDiTBench.run(sizes: args.dropFirst().compactMap { Int($0) }, formats: formats.isEmpty ? [.q8_0, .q4_K] : formats)
    case "t5":
        guard args.count >= 2 else { print("usage: cuda-check t5 MODEL_DIR"); exit(2) }
        try T5Bench.run(modelDir: args[1])
    case "dit-batch": try DiTBatchBench.run(sizes: args.dropFirst().compactMap { Int($0) })
    case "threads": exit(try ThreadsCheck.run() ? 0 : 1)
    case "stream":
        let rest = args.dropFirst(), numbers = rest.compactMap { Double($0) }
        exit(try StreamCheck.run(weightBudgetGiB: numbers.first ?? 4, fp8: !rest.contains("bf16"),
                                 slots: numbers.count > 1 ? Int(numbers[1]) : 2) ? 0 : 1)
    default:
        print("unknown command \(command)")
        exit(2)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
