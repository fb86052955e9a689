#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import COpenBLAS

/// Makes OpenBLAS use the kernels the CPU can run when its own detection falls back to a generic
/// core.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model number. Builds older than the CPU
/// (Debian's 0.3.21 on Sapphire/Emerald Rapids, family 6 model 143/207) do not know the model and fall
/// back to `Prescott`, SSE3 kernels that run sgemm about 4x slower than the AVX-512 ones (measured 16
/// vs 90 GFLOP/s per core on this project's bench machine). When the detected core is such a generic
/// one, the CPU's flags (Linux `/proc/cpuinfo`) allow better kernels and the user has not chosen a core
/// with `OPENBLAS_CORETYPE`, this sets `OPENBLAS_CORETYPE` and re-runs OpenBLAS's own core selection
/// (`gotoblas_dynamic_quit` + `gotoblas_dynamic_init`, looked up with `dlsym`, so a single-target
/// OpenBLAS without them is left alone). It runs once, when the CPU backend is created, before any GEMM.
enum BLASKernels {
    /// The core OpenBLAS uses after the check ("Cooperlake", "Haswell", ...).
    static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// What the check did, for messages and benchmarks: nil when nothing was changed.
    nonisolated(unsafe) static private(set) var override: (from: String, to: String)?

    private static let once: Void = {
        let from = coreName
        guard getenv("OPENBLAS_CORETYPE") == nil,
              ["prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "katmai", "coppermine",
               "northwood", "banias", "atom"].contains(from.lowercased()),
              let target = bestCore(flags: cpuFlags()),
              let process = dlopen(nil, RTLD_NOW),
              let quit = dlsym(process, "gotoblas_dynamic_quit"),
              let initialise = dlsym(process, "gotoblas_dynamic_init")
        else { return }
        typealias VoidFunction = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quit, to: VoidFunction.self)()
        unsafeBitCast(initialise, to: VoidFunction.self)()
        unsetenv("OPENBLAS_CORETYPE")
        override = (from, coreName)
    }()

    /// Runs the checks (once per process).
    static func select() {
        _ = once
        _ = shortSpin
    }

    /// OpenBLAS's idle worker threads busy-wait (yielding) for 2^28 cycles, ~0.1 s, after each threaded
    /// GEMM before they sleep. Our kernels alternate threaded GEMMs (Linear) with our own worker threads
    /// (attention, conv tiles, norms), so on a machine with as many cores as threads those spinning
    /// workers take cores from ours: measured ~10 % of the VAE decode's CPU time. Unless the user set
    /// `OPENBLAS_THREAD_TIMEOUT`, the timeout is set to its minimum (2^4 cycles) and OpenBLAS's thread
    /// pool restarted with it (`openblas_read_env`, `blas_thread_shutdown_`, `blas_thread_init`,
    /// looked up with `dlsym`; skipped where they do not exist).
    nonisolated(unsafe) static private(set) var threadTimeoutShortened = false

    private static let shortSpin: Void = {
        guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil,
              let process = dlopen(nil, RTLD_NOW),
              let readEnv = dlsym(process, "openblas_read_env"),
              let shutdown = dlsym(process, "blas_thread_shutdown_"),
              let start = dlsym(process, "blas_thread_init")
        else { return }
        typealias IntFunction = @convention(c) () -> Int32
        typealias VoidFunction = @convention(c) () -> Void
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
        unsafeBitCast(readEnv, to: VoidFunction.self)()
        _ = unsafeBitCast(shutdown, to: IntFunction.self)()
        _ = unsafeBitCast(start, to: IntFunction.self)()
        unsetenv("OPENBLAS_THREAD_TIMEOUT")
        threadTimeoutShortened = true
    }()

    /// The OpenBLAS core for a set of x86 CPU flags, or nil when none beats the generic kernels.
    static func bestCore(flags: Set<String>) -> String? {
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") {
            return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The CPU flags from `/proc/cpuinfo` (empty where there is none).
    static func cpuFlags() -> Set<String> {
        guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0, let l = line {
            let s = String(cString: l)
            if s.hasPrefix("flags") {
                let list = s.split(separator: ":", maxSplits: 1).last ?? ""
                return Set(list.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
            }
        }
        return []
    }
}
