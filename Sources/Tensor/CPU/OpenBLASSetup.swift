#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import COpenBLAS

/// Makes OpenBLAS use the kernels the CPU can run when its own detection falls back to a generic
/// core, and makes its idle threads sleep at once. Run by an executable's entry, never by a backend.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model number. Builds older than the CPU
/// (Debian's 0.3.21 on Sapphire/Emerald Rapids, family 6 model 143/207; this AMD EPYC) do not know
/// the model and fall back to `Prescott`, SSE3 kernels that run sgemm about 4x slower than the
/// AVX-512 ones (measured 16 vs 90 GFLOP/s per core on this project's bench machine). OpenBLAS's
/// idle worker threads also busy-wait ~0.1 s after each threaded GEMM, taking cores from our own
/// workers (~10 % of the VAE decode's CPU time; BENCHMARKS.md).
///
/// OpenBLAS 0.3.21 takes both settings only from the environment (`OPENBLAS_CORETYPE`,
/// `OPENBLAS_THREAD_TIMEOUT`, read into its private state), so there is no API call that replaces
/// them. `prepareProcess()` therefore sets the variables (each only when the user has not), re-runs
/// OpenBLAS's core selection and restarts its thread pool (`gotoblas_dynamic_quit/init`,
/// `openblas_read_env`, `blas_thread_shutdown_/init`, looked up with `dlsym`, so an OpenBLAS without
/// them is left alone), and removes the variables again. Changing the environment is only safe while
/// no other thread reads it, so this belongs at the very start of `main`, not in a library's code
/// path: the CPU backend itself never touches the environment. Executables of this package call it
/// first thing; a program that skips it still computes correctly, only slower on such CPUs (or
/// its launcher sets `OPENBLAS_CORETYPE` itself).
public enum OpenBLASSetup {
    /// What `prepareProcess()` changed.
    public struct Outcome: Sendable, Equatable {
        /// The core OpenBLAS had chosen and the one it uses now, when the core was replaced.
        public var coreChange: (from: String, to: String)? { coreFrom.map { ($0, coreTo ?? "") } }
        /// Whether OpenBLAS's thread pool was restarted with the shortest spin timeout.
        public let threadTimeoutShortened: Bool
        let coreFrom: String?, coreTo: String?
    }

    /// Runs the checks and changes (once per process; later calls return the first outcome). Call it
    /// at the top of an executable's `main`, before other threads start and before the first GEMM.
    @discardableResult
    public static func prepareProcess() -> Outcome { outcome }

    private static let outcome: Outcome = {
        let core = replaceGenericCore()
        return Outcome(threadTimeoutShortened: shortenThreadTimeout(), coreFrom: core?.from, coreTo: core?.to)
    }()

    private typealias VoidFunction = @convention(c) () -> Void
    private typealias IntFunction = @convention(c) () -> Int32

    /// Re-selects OpenBLAS's core with `OPENBLAS_CORETYPE` set for the call (see the type's notes).
    private static func replaceGenericCore() -> (from: String, to: String)? {
        let from = BLASKernels.coreName
        guard getenv("OPENBLAS_CORETYPE") == nil,
              ["prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "katmai", "coppermine",
               "northwood", "banias", "atom"].contains(from.lowercased()),
              let target = BLASKernels.bestCore(flags: BLASKernels.cpuFlags()),
              let process = dlopen(nil, RTLD_NOW),
              let quit = dlsym(process, "gotoblas_dynamic_quit"),
              let initialise = dlsym(process, "gotoblas_dynamic_init")
        else { return nil }
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quit, to: VoidFunction.self)()
        unsafeBitCast(initialise, to: VoidFunction.self)()
        unsetenv("OPENBLAS_CORETYPE")
        return (from, BLASKernels.coreName)
    }

    /// Restarts OpenBLAS's thread pool with a 2^4-cycle spin timeout unless the user chose one.
    private static func shortenThreadTimeout() -> Bool {
        guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil,
              let process = dlopen(nil, RTLD_NOW),
              let readEnv = dlsym(process, "openblas_read_env"),
              let shutdown = dlsym(process, "blas_thread_shutdown_"),
              let start = dlsym(process, "blas_thread_init")
        else { return false }
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
        unsafeBitCast(readEnv, to: VoidFunction.self)()
        _ = unsafeBitCast(shutdown, to: IntFunction.self)()
        _ = unsafeBitCast(start, to: IntFunction.self)()
        unsetenv("OPENBLAS_THREAD_TIMEOUT")
        return true
    }
}

/// OpenBLAS's core and the x86 CPU flags that pick a better one (read-only queries).
enum BLASKernels {
    /// The core OpenBLAS uses ("Cooperlake", "Haswell", ...).
    static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

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
