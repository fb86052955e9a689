#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kernel module: NVRTC compiles every kernel (CUDAKernelSource.all) once per process, or a
/// compiled image comes from the disk cache (`CUDAKernelCache`, `Configuration.kernelCacheFolder`).
extension CUDABackend {
    /// A module image and where it came from.
    struct ModuleImage {
        let bytes: [CChar]
        /// Its cache key (nil: no cache), and whether it was read from the cache rather than compiled.
        let key: CUDAKernelCache.Key?
        let fromDisk: Bool
    }

    // unchecked: only touched by `moduleImage`, which only `init` calls, inside `make`'s `cacheLock`.
    nonisolated(unsafe) private static var images: [String: ModuleImage] = [:]

    /// What NVRTC tries for compute capability `arch` ("90"), best first: machine code (CUBIN), then
    /// PTX for the driver to compile when NVRTC does not know the GPU. Hopper gets its arch-specific
    /// target (sm_90a) first, so the wgmma flash kernels are compiled in.
    static func moduleTargets(arch: String) -> [(target: String, kind: CUDAKernelCache.ImageKind)] {
        let cubins = arch == "90" ? ["sm_90a", "sm_90"] : ["sm_\(arch)"]
        return cubins.map { ($0, .cubin) } + [("compute_\(arch)", .ptx)] + (arch == "90" ? [] : [("compute_90", .ptx)])
    }

    /// The kernel module for compute capability `arch`: from this process's memo, else from `cache`
    /// (the first target of `moduleTargets` that has an intact file), else compiled by NVRTC (the
    /// first target that compiles) and written to `cache`. `refresh`: skip the memo and the cache
    /// (the driver refused the cached image).
    static func moduleImage(arch: String, cache: CUDAKernelCache?, refresh: Bool = false) throws -> ModuleImage {
        if !refresh, let i = images[arch] { return i }
        guard let nvrtc = NVRTC.load() else { throw CUDAError.unavailable("libnvrtc not found") }
        let targets = moduleTargets(arch: arch)
        let compiler = nvrtc.versionText
        let keys = targets.map {
            CUDAKernelCache.Key(source: CUDAKernelSource.all, target: $0.target, options: NVRTC.options(arch: $0.target),
                                compiler: compiler, kind: $0.kind)
        }
        if !refresh, let cache {
            for key in keys {
                if let bytes = cache.load(key) {
                    let image = ModuleImage(bytes: bytes.withUnsafeBytes { Array($0.bindMemory(to: CChar.self)) }, key: key, fromDisk: true)
                    images[arch] = image
                    return image
                }
            }
        }
        for (i, (target, key)) in zip(targets, keys).enumerated() {
            let bytes: [CChar]
            do {
                bytes = target.kind == .cubin
                    ? try nvrtc.compileCUBIN(CUDAKernelSource.all, name: "majicflux.cu", arch: target.target)
                    : try nvrtc.compilePTX(CUDAKernelSource.all, name: "majicflux.cu", arch: target.target)
            } catch {
                if i == targets.count - 1 { throw error }
                continue
            }
            if let cache, let notice = cache.save(bytes.withUnsafeBytes { Array($0) }, for: key) {
                _ = (notice + "\n").withCString { write(2, $0, strlen($0)) }
            }
            let image = ModuleImage(bytes: bytes, key: key, fromDisk: false)
            images[arch] = image
            return image
        }
        throw CUDAError.compile("no compile target for compute capability \(arch)")
    }

    /// Loads the kernel module for `arch` into the current context (`driver`'s). An image from the
    /// disk cache that the driver refuses (another driver, a file damaged past the checksum) is
    /// compiled again, and the cache file replaced.
    static func loadKernelModule(_ driver: CUDADriver, arch: String, cacheFolder: String?) throws -> UnsafeMutableRawPointer? {
        let cache = cacheFolder.map(CUDAKernelCache.init(folder:))
        var image = try moduleImage(arch: arch, cache: cache)
        var module: UnsafeMutableRawPointer?
        var rc = image.bytes.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress) }
        if rc != 0 && image.fromDisk {
            if let key = image.key { cache?.remove(key) }
            image = try moduleImage(arch: arch, cache: cache, refresh: true)
            rc = image.bytes.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress) }
        }
        try CUDADriver.check(rc, "cuModuleLoadData")
        return module
    }
}

extension NVRTC {
    /// "major.minor" from `nvrtcVersion`, or "unknown" (then the library's path stands in, so
    /// another NVRTC still gives another cache key).
    var versionText: String {
        typealias Version = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
        var major: Int32 = 0, minor: Int32 = 0
        guard let version: Version = try? lib.symbol("nvrtcVersion"), version(&major, &minor) == 0 else {
            return "unknown (\(lib.path))"
        }
        return "\(major).\(minor)"
    }
}
