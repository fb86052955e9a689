import Tensor

/// A 2-D convolution layer (weights (Cout, Cin, kh, kw) + bias).
struct Conv2d: Module {
    var weight: Tensor
    var bias: Tensor?
    let stride: Int
    let padding: (top: Int, bottom: Int, left: Int, right: Int)

    init(in cin: Int, out cout: Int, kernel: Int, stride: Int = 1,
         padding: (top: Int, bottom: Int, left: Int, right: Int)? = nil) {
        weight = .placeholder([cout, cin, kernel, kernel])
        bias = .placeholder([cout])
        self.stride = stride
        let k = kernel / 2
        self.padding = padding ?? (k, k, k, k)
    }

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("weight", &weight)
        try v.parameter("bias", &bias)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: padding)
    }
}

/// GroupNorm with affine parameters (`weight`, `bias`). The config's checks guarantee `channels`
/// divides into `groups` (AutoencoderConfig).
struct GroupNorm: Module {
    var weight, bias: Tensor
    let groups: Int
    let eps: Float
    init(channels: Int, groups: Int, eps: Float = 1e-6) {
        weight = .placeholder([channels])
        bias = .placeholder([channels])
        self.groups = groups
        self.eps = eps
    }
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.parameter("weight", &weight)
        try v.parameter("bias", &bias)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps) }
    /// silu(norm(x)), fused where the backend can.
    func silu(_ x: Tensor) -> Tensor { groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// norm -> swish -> conv -> norm -> swish -> conv, plus a 1x1 shortcut when channels change.
struct ResnetBlock: Module {
    var norm1, norm2: GroupNorm
    var conv1, conv2: Conv2d
    var shortcut: Conv2d?

    init(in cin: Int, out cout: Int, groups: Int) {
        norm1 = GroupNorm(channels: cin, groups: groups)
        conv1 = Conv2d(in: cin, out: cout, kernel: 3)
        norm2 = GroupNorm(channels: cout, groups: groups)
        conv2 = Conv2d(in: cout, out: cout, kernel: 3)
        shortcut = cin != cout ? Conv2d(in: cin, out: cout, kernel: 1) : nil
    }

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("norm1", &norm1)
        try v.child("conv1", &conv1)
        try v.child("norm2", &norm2)
        try v.child("conv2", &conv2)
        try v.child("nin_shortcut", &shortcut)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(norm1.silu(x))
        h = conv2(norm2.silu(h))
        return (shortcut.map { $0(x) } ?? x) + h
    }
}

/// Single-head self-attention over all pixels, with 1x1-conv projections.
struct VAEAttention: Module {
    var norm: GroupNorm
    var q, k, v, proj: Conv2d

    init(channels c: Int, groups: Int) {
        norm = GroupNorm(channels: c, groups: groups)
        q = Conv2d(in: c, out: c, kernel: 1)
        k = Conv2d(in: c, out: c, kernel: 1)
        v = Conv2d(in: c, out: c, kernel: 1)
        proj = Conv2d(in: c, out: c, kernel: 1)
    }

    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("norm", &norm)
        try v.child("q", &q)
        try v.child("k", &k)
        try v.child("v", &self.v)
        try v.child("proj_out", &proj)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let n = norm(x)
        func seq(_ t: Tensor) -> Tensor { t.reshaped(b, 1, c, h * wd).transposed(2, 3) }  // (B, 1, HW, C)
        let a = scaledDotProductAttention(seq(q(n)), seq(k(n)), seq(v(n)).contiguous())
        let back = a.transposed(2, 3).reshaped(b, c, h, wd)
        return x + proj(back)
    }
}

/// The VAE's middle: resnet, attention, resnet.
struct VAEMid: Module {
    var block1, block2: ResnetBlock
    var attn: VAEAttention
    init(channels c: Int, groups: Int) {
        block1 = ResnetBlock(in: c, out: c, groups: groups)
        attn = VAEAttention(channels: c, groups: groups)
        block2 = ResnetBlock(in: c, out: c, groups: groups)
    }
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.child("block_1", &block1)
        try v.child("attn_1", &attn)
        try v.child("block_2", &block2)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { block2(attn(block1(x))) }
}

/// One resolution level: resnet blocks, then an optional resampling convolution (`upsample.conv`
/// in the decoder, `downsample.conv` in the encoder).
struct VAELevel: Module {
    var blocks: [ResnetBlock]
    var resample: Conv2d?
    let resampleKey: String
    mutating func visit<V: ModuleVisitor>(_ v: inout V) throws {
        try v.children("block", &blocks)
        try v.child(resampleKey, &resample)
    }
}
