/// The CUDA driver API functions the backend uses, resolved with `dlsym` from `libcuda.so.1`.
final class CUDADriver: Sendable {
    typealias CUresult = Int32
    typealias Ptr = UnsafeMutableRawPointer
    typealias OptPtr = UnsafeMutableRawPointer?

    let lib: CUDALibrary
    let cuInit: @convention(c) (UInt32) -> CUresult
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> CUresult
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> CUresult
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> CUresult
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<OptPtr>, Int32) -> CUresult
    let cuCtxSetCurrent: @convention(c) (OptPtr) -> CUresult
    let cuCtxGetCurrent: @convention(c) (UnsafeMutablePointer<OptPtr>) -> CUresult
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> CUresult
    let cuMemFree: @convention(c) (UInt64) -> CUresult
    let cuMemAllocHost: @convention(c) (UnsafeMutablePointer<OptPtr>, Int) -> CUresult
    let cuMemFreeHost: @convention(c) (OptPtr) -> CUresult
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult
    let cuMemcpyHtoDAsync: @convention(c) (UInt64, UnsafeRawPointer?, Int, OptPtr) -> CUresult
    let cuMemcpyDtoHAsync: @convention(c) (OptPtr, UInt64, Int, OptPtr) -> CUresult
    let cuMemcpyDtoDAsync: @convention(c) (UInt64, UInt64, Int, OptPtr) -> CUresult
    let cuMemsetD8Async: @convention(c) (UInt64, UInt8, Int, OptPtr) -> CUresult
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<OptPtr>, UInt32) -> CUresult
    let cuStreamSynchronize: @convention(c) (OptPtr) -> CUresult
    let cuStreamWaitEvent: @convention(c) (OptPtr, OptPtr, UInt32) -> CUresult
    let cuCtxSynchronize: @convention(c) () -> CUresult
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<OptPtr>, UnsafeRawPointer?) -> CUresult
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<OptPtr>, OptPtr, UnsafePointer<CChar>) -> CUresult
    let cuFuncSetAttribute: @convention(c) (OptPtr, Int32, Int32) -> CUresult
    let cuLaunchKernel: @convention(c) (OptPtr, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OptPtr,
                                        UnsafeMutablePointer<OptPtr>?, UnsafeMutablePointer<OptPtr>?) -> CUresult
    let cuEventCreate: @convention(c) (UnsafeMutablePointer<OptPtr>, UInt32) -> CUresult
    let cuEventRecord: @convention(c) (OptPtr, OptPtr) -> CUresult
    let cuEventSynchronize: @convention(c) (OptPtr) -> CUresult
    let cuEventDestroy: @convention(c) (OptPtr) -> CUresult
    let cuEventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>, OptPtr, OptPtr) -> CUresult
    /// TMA tensor maps (CUDA 12+ drivers; nil on older ones): map, data type, rank, address, sizes,
    /// byte strides, box, element strides, interleave, swizzle, L2 promotion, out-of-bounds fill.
    let cuTensorMapEncodeTiled: (@convention(c) (Ptr, Int32, UInt32, UInt64, UnsafePointer<UInt64>, UnsafePointer<UInt64>,
                                                 UnsafePointer<UInt32>, UnsafePointer<UInt32>, Int32, Int32, Int32, Int32) -> CUresult)?

    /// CUDA graphs (nil where the driver lacks them): capture on a stream (mode 2 = relaxed), end it,
    /// instantiate, launch, destroy.
    let graphs: GraphAPI?
    struct GraphAPI: Sendable {
        let cuStreamBeginCapture: @convention(c) (OptPtr, Int32) -> CUresult
        let cuStreamEndCapture: @convention(c) (OptPtr, UnsafeMutablePointer<OptPtr>) -> CUresult
        let cuGraphInstantiateWithFlags: @convention(c) (UnsafeMutablePointer<OptPtr>, OptPtr, UInt64) -> CUresult
        let cuGraphLaunch: @convention(c) (OptPtr, OptPtr) -> CUresult
        let cuGraphExecDestroy: @convention(c) (OptPtr) -> CUresult
        let cuGraphDestroy: @convention(c) (OptPtr) -> CUresult

        init(_ lib: CUDALibrary) throws {
            cuStreamBeginCapture = try lib.symbol("cuStreamBeginCapture_v2")
            cuStreamEndCapture = try lib.symbol("cuStreamEndCapture")
            cuGraphInstantiateWithFlags = try lib.symbol("cuGraphInstantiateWithFlags")
            cuGraphLaunch = try lib.symbol("cuGraphLaunch")
            cuGraphExecDestroy = try lib.symbol("cuGraphExecDestroy")
            cuGraphDestroy = try lib.symbol("cuGraphDestroy")
        }
    }

    init(_ lib: CUDALibrary) throws {
        self.lib = lib
        cuInit = try lib.symbol("cuInit")
        cuDeviceGet = try lib.symbol("cuDeviceGet")
        cuDeviceGetCount = try lib.symbol("cuDeviceGetCount")
        cuDeviceGetName = try lib.symbol("cuDeviceGetName")
        cuDeviceGetAttribute = try lib.symbol("cuDeviceGetAttribute")
        cuDevicePrimaryCtxRetain = try lib.symbol("cuDevicePrimaryCtxRetain")
        cuCtxSetCurrent = try lib.symbol("cuCtxSetCurrent")
        cuCtxGetCurrent = try lib.symbol("cuCtxGetCurrent")
        cuMemAlloc = try lib.symbol("cuMemAlloc_v2")
        cuMemFree = try lib.symbol("cuMemFree_v2")
        cuMemAllocHost = try lib.symbol("cuMemAllocHost_v2")
        cuMemFreeHost = try lib.symbol("cuMemFreeHost")
        cuMemGetInfo = try lib.symbol("cuMemGetInfo_v2")
        cuMemcpyHtoDAsync = try lib.symbol("cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = try lib.symbol("cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = try lib.symbol("cuMemcpyDtoDAsync_v2")
        cuMemsetD8Async = try lib.symbol("cuMemsetD8Async")
        cuStreamCreate = try lib.symbol("cuStreamCreate")
        cuStreamSynchronize = try lib.symbol("cuStreamSynchronize")
        cuStreamWaitEvent = try lib.symbol("cuStreamWaitEvent")
        cuCtxSynchronize = try lib.symbol("cuCtxSynchronize")
        cuModuleLoadData = try lib.symbol("cuModuleLoadData")
        cuModuleGetFunction = try lib.symbol("cuModuleGetFunction")
        cuFuncSetAttribute = try lib.symbol("cuFuncSetAttribute")
        cuLaunchKernel = try lib.symbol("cuLaunchKernel")
        cuEventCreate = try lib.symbol("cuEventCreate")
        cuEventRecord = try lib.symbol("cuEventRecord")
        cuEventSynchronize = try lib.symbol("cuEventSynchronize")
        cuEventDestroy = try lib.symbol("cuEventDestroy_v2")
        cuEventElapsedTime = try lib.symbol("cuEventElapsedTime_v2")
        cuTensorMapEncodeTiled = try? lib.symbol("cuTensorMapEncodeTiled")
        graphs = try? GraphAPI(lib)
    }

    /// Throws `CUDAError.driver` when `result` is not CUDA_SUCCESS.
    @inline(__always) static func check(_ result: CUresult, _ call: @autoclosure () -> String) throws {
        if result != 0 { throw CUDAError.driver(call(), result) }
    }
}

extension CUDADriver: ThreadContextAPI {
    func currentContext() -> UnsafeMutableRawPointer? {
        var c: OptPtr = nil
        return cuCtxGetCurrent(&c) == 0 ? c : nil
    }

    func setCurrentContext(_ context: UnsafeMutableRawPointer?) -> Int32 { cuCtxSetCurrent(context) }
}
