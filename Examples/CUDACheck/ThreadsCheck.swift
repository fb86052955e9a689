#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// `cuda-check threads`: the backend made on the main thread, then driven from new threads at once
/// and one after another (issue 24: the context used to be current on the making thread only, so
/// any other thread failed with CUDA_ERROR_INVALID_CONTEXT). Each thread's results must equal the
/// same work done on the main thread; a forced out-of-memory must come back as an error, not a trap,
/// and the backend must work after it.
enum ThreadsCheck {
    static func work(_ b: any Backend, _ i: Int) -> [Float] {
        var r = HostRandom(seed: UInt64(100 + i))
        let x = Tensor(r.normals(256 * 128), shape: [256, 128]).moved(to: b)
        let w = Tensor(r.normals(192 * 128, scale: 0.1), shape: [192, 128]).moved(to: b)
        let y = linear(x, weight: w, bias: nil)
        return layerNorm(softmax(y, dim: -1) * 3, eps: 1e-5).floats()
    }

    static func run() throws -> Bool {
        let gpu = try CUDABackend.make(computeDType: .f32)
        let reference = (0..<8).map { work(gpu, $0) }
        var ok = true
        // Eight threads at once, each doing its work 20 times.
        // unchecked: `results` is written by the threads under `lock` (PThreadMutex) and read after they are joined.
        final class Box: @unchecked Sendable { let lock = PThreadMutex(); var results = [[Float]?](repeating: nil, count: 8); var errors: [String] = [] }
        let box = Box()
        var threads: [pthread_t] = []
        final class Arg { let i: Int; let gpu: CUDABackend; let box: Box; init(_ i: Int, _ g: CUDABackend, _ b: Box) { self.i = i; gpu = g; box = b } }
        for i in 0..<8 {
            var t = pthread_t()
            let arg = Unmanaged.passRetained(Arg(i, gpu, box)).toOpaque()
            pthread_create(&t, nil, { raw in
                let a = Unmanaged<Arg>.fromOpaque(raw!).takeRetainedValue()
                var last: [Float] = []
                for _ in 0..<20 { last = ThreadsCheck.work(a.gpu, a.i) }
                a.box.lock.withLock { a.box.results[a.i] = last }
                return nil
            }, arg)
            threads.append(t)
        }
        for t in threads { pthread_join(t, nil) }
        for i in 0..<8 {
            let same = box.results[i] == reference[i]
            if !same { ok = false }
            print("threads: thread \(i) \(same ? "equal to the main thread's result" : "DIFFERS")")
        }
        if let e = gpu.takeFault() { ok = false; print("threads: fault after the threads: \(e)") }

        // A genuine out-of-memory: more than the device has. The op is skipped, the fault says why.
        let (_, total) = gpu.memoryInfo()
        let huge = gpu.empty([total / 4 + (1 << 30)], .f32)
        _ = huge
        let oom = gpu.takeFault()
        print("threads: oversized allocation -> \(oom.map { "\($0)" } ?? "no error (FAILED)")")
        if oom == nil || !"\(oom!)".contains("CUDA_ERROR_OUT_OF_MEMORY") { ok = false }
        let after = work(gpu, 0) == reference[0]
        print("threads: work after the failed allocation \(after ? "equal" : "DIFFERS")")
        if !after { ok = false }
        print("threads: \(ok ? "all passed" : "FAILED")")
        return ok
    }
}
