import Tensor

/// A layer or block whose parameter tensors can be visited and replaced, always in the same order.
/// `BlockStreamer` uses it to copy a block's weights into host memory and to point a block at weights
/// in another place (a device slot) without rebuilding it from a checkpoint.
protocol ParameterMapping {
    /// A copy of `self` with every parameter tensor `t` replaced by `f(t)`, visited in a fixed order.
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> Self
}

extension ParameterMapping {
    /// The parameter tensors in visiting order.
    var parameterTensors: [Tensor] {
        var list: [Tensor] = []
        _ = try? mapParameters { list.append($0); return $0 }
        return list
    }
}

extension Linear: ParameterMapping {
    /// Weight (or e4m3 codes), then the GPU fp8 scale, then the bias. Layers quantized for the CPU
    /// (`quantized`) hold their tensors inside Quant's kernel object and cannot be remapped.
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> Linear {
        if quantized != nil {
            throw ModelError.invalidParameter("a layer quantized for the CPU (int8/int4/scaled fp8) cannot be moved between memories; use bf16 or fp8 on the GPU")
        }
        var l = self
        l.weight = try f(weight)
        if let fp8 = gpuFP8 { l.gpuFP8 = (l.weight, try f(fp8.scale)) }
        l.bias = try bias.map(f)
        return l
    }
}

extension RMSNorm: ParameterMapping {
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> RMSNorm {
        var n = self
        n.weight = try f(weight)
        return n
    }
}

extension Modulation: ParameterMapping {
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> Modulation {
        var m = self
        m.lin = try lin.mapParameters(f)
        return m
    }
}

extension FluxQKV: ParameterMapping {
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> FluxQKV {
        var q = self
        q.queryNorm = try queryNorm.mapParameters(f)
        q.keyNorm = try keyNorm.mapParameters(f)
        return q
    }
}

extension FluxDoubleBlock: ParameterMapping {
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> FluxDoubleBlock {
        var b = self
        b.imgMod = try imgMod.mapParameters(f)
        b.txtMod = try txtMod.mapParameters(f)
        b.imgQKV = try imgQKV.mapParameters(f)
        b.txtQKV = try txtQKV.mapParameters(f)
        b.imgNorms = try imgNorms.mapParameters(f)
        b.txtNorms = try txtNorms.mapParameters(f)
        b.imgProj = try imgProj.mapParameters(f)
        b.txtProj = try txtProj.mapParameters(f)
        b.imgMLP0 = try imgMLP0.mapParameters(f)
        b.imgMLP2 = try imgMLP2.mapParameters(f)
        b.txtMLP0 = try txtMLP0.mapParameters(f)
        b.txtMLP2 = try txtMLP2.mapParameters(f)
        return b
    }
}

extension FluxSingleBlock: ParameterMapping {
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> FluxSingleBlock {
        var b = self
        b.modulation = try modulation.mapParameters(f)
        b.linear1 = try linear1.mapParameters(f)
        b.linear2 = try linear2.mapParameters(f)
        b.norms = try norms.mapParameters(f)
        return b
    }
}

extension T5Block: ParameterMapping {
    func mapParameters(_ f: (Tensor) throws -> Tensor) throws -> T5Block {
        var b = self
        b.attnNorm = try attnNorm.mapParameters(f)
        b.q = try q.mapParameters(f)
        b.k = try k.mapParameters(f)
        b.v = try v.mapParameters(f)
        b.o = try o.mapParameters(f)
        b.ffNorm = try ffNorm.mapParameters(f)
        b.wi0 = try wi0.mapParameters(f)
        b.wi1 = try wi1?.mapParameters(f)
        b.wo = try wo.mapParameters(f)
        return b
    }
}
