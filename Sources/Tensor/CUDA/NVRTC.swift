/// NVRTC, CUDA's run-time compiler, resolved with `dlsym`: compiles CUDA C source to PTX.
public final class NVRTC: Sendable {
    typealias Program = UnsafeMutableRawPointer?
    let lib: CUDALibrary
    let create: @convention(c) (UnsafeMutablePointer<Program>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
                                UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let compile: @convention(c) (Program, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let destroy: @convention(c) (UnsafeMutablePointer<Program>) -> Int32
    let logSize: @convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32
    let log: @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32
    let ptxSize: @convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32
    let ptx: @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32
    let cubinSize: (@convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32)?
    let cubin: (@convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32)?

    /// Loads libnvrtc (13 or 12); nil when it is not installed.
    public static func load() -> NVRTC? {
        guard let lib = CUDALibrary(CUDALibraryNames.nvrtc) else { return nil }
        return try? NVRTC(lib)
    }

    init(_ lib: CUDALibrary) throws {
        self.lib = lib
        create = try lib.symbol("nvrtcCreateProgram")
        compile = try lib.symbol("nvrtcCompileProgram")
        destroy = try lib.symbol("nvrtcDestroyProgram")
        logSize = try lib.symbol("nvrtcGetProgramLogSize")
        log = try lib.symbol("nvrtcGetProgramLog")
        ptxSize = try lib.symbol("nvrtcGetPTXSize")
        ptx = try lib.symbol("nvrtcGetPTX")
        cubinSize = try? lib.symbol("nvrtcGetCUBINSize")
        cubin = try? lib.symbol("nvrtcGetCUBIN")
    }

    /// Compiles `source` for `arch` (e.g. "compute_90") and returns the PTX text (NUL-terminated bytes).
    public func compilePTX(_ source: String, name: String, arch: String) throws -> [CChar] {
        try compile(source, name: name, arch: arch, cubin: false)
    }

    /// Compiles `source` to machine code for `arch` (e.g. "sm_90"), ready for cuModuleLoadData
    /// without a JIT step.
    public func compileCUBIN(_ source: String, name: String, arch: String) throws -> [CChar] {
        try compile(source, name: name, arch: arch, cubin: true)
    }

    /// The compile options for `arch` (part of the kernel cache's key: CUDAKernelCache).
    static func options(arch: String) -> [String] {
        ["--gpu-architecture=\(arch)", "--std=c++17", "-default-device", "-lineinfo"]
    }

    func compile(_ source: String, name: String, arch: String, cubin wantCubin: Bool) throws -> [CChar] {
        var prog: Program = nil
        let rc = source.withCString { src in name.withCString { create(&prog, src, $0, 0, nil, nil) } }
        if rc != 0 { throw CUDAError.compile("nvrtcCreateProgram failed (\(rc))") }
        defer { _ = destroy(&prog) }
        let options = Self.options(arch: arch)
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let result = cOptions.map { UnsafePointer($0) }.withUnsafeBufferPointer {
            compile(prog, Int32(options.count), $0.baseAddress)
        }
        if result != 0 {
            var n = 0
            _ = logSize(prog, &n)
            var text = [CChar](repeating: 0, count: n + 1)
            _ = log(prog, &text)
            throw CUDAError.compile(text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        var n = 0
        if wantCubin {
            guard let cubinSize, let cubin else { throw CUDAError.compile("this NVRTC cannot emit CUBIN") }
            _ = cubinSize(prog, &n)
            var out = [CChar](repeating: 0, count: n + 1)
            _ = cubin(prog, &out)
            return out
        }
        _ = ptxSize(prog, &n)
        var out = [CChar](repeating: 0, count: n + 1)
        _ = ptx(prog, &out)
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
