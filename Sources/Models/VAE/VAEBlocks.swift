import Tensor

/// A 2-D convolution layer (weights (Cout, Cin, kh, kw) + bias).
struct Conv2d {
    let weight: Tensor
    let bias: Tensor?
    let stride: Int
    let padding: (top: Int, bottom: Int, left: Int, right: Int)

    init(_ w: WeightLoader, _ p: String, in cin: Int, out cout: Int, kernel: Int, stride: Int = 1,
         padding: (top: Int, bottom: Int, left: Int, right: Int)? = nil) {
        weight = w.take("\(p).weight", shape: [cout, cin, kernel, kernel])
        bias = w.take("\(p).bias", shape: [cout])
        self.stride = stride
        let k = kernel / 2
        self.padding = padding ?? (k, k, k, k)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: padding)
    }
}

/// GroupNorm with affine parameters (`prefix.weight`, `prefix.bias`).
struct GroupNorm {
    let weight, bias: Tensor
    let groups: Int
    let eps: Float
    init(_ w: WeightLoader, _ p: String, channels: Int, groups: Int, eps: Float = 1e-6) {
        weight = w.take("\(p).weight", shape: [channels])
        bias = w.take("\(p).bias", shape: [channels])
        self.groups = groups
        self.eps = eps
        if channels % groups != 0 { w.report("\(p): \(channels) channels not divisible into \(groups) groups") }
    }
    func callAsFunction(_ x: Tensor) -> Tensor { groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps) }
    /// silu(norm(x)), fused where the backend can.
    func silu(_ x: Tensor) -> Tensor { groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// norm -> swish -> conv -> norm -> swish -> conv, plus a 1x1 shortcut when channels change.
struct ResnetBlock {
    let norm1, norm2: GroupNorm
    let conv1, conv2: Conv2d
    let shortcut: Conv2d?

    init(_ w: WeightLoader, _ p: String, in cin: Int, out cout: Int, groups: Int) {
        norm1 = GroupNorm(w, "\(p).norm1", channels: cin, groups: groups)
        conv1 = Conv2d(w, "\(p).conv1", in: cin, out: cout, kernel: 3)
        norm2 = GroupNorm(w, "\(p).norm2", channels: cout, groups: groups)
        conv2 = Conv2d(w, "\(p).conv2", in: cout, out: cout, kernel: 3)
        shortcut = cin != cout ? Conv2d(w, "\(p).nin_shortcut", in: cin, out: cout, kernel: 1) : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(norm1.silu(x))
        h = conv2(norm2.silu(h))
        return (shortcut.map { $0(x) } ?? x) + h
    }
}

/// Single-head self-attention over all pixels, with 1x1-conv projections.
struct VAEAttention {
    let norm: GroupNorm
    let q, k, v, proj: Conv2d

    init(_ w: WeightLoader, _ p: String, channels c: Int, groups: Int) {
        norm = GroupNorm(w, "\(p).norm", channels: c, groups: groups)
        q = Conv2d(w, "\(p).q", in: c, out: c, kernel: 1)
        k = Conv2d(w, "\(p).k", in: c, out: c, kernel: 1)
        v = Conv2d(w, "\(p).v", in: c, out: c, kernel: 1)
        proj = Conv2d(w, "\(p).proj_out", in: c, out: c, kernel: 1)
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
struct VAEMid {
    let block1, block2: ResnetBlock
    let attn: VAEAttention
    init(_ w: WeightLoader, _ p: String, channels c: Int, groups: Int) {
        block1 = ResnetBlock(w, "\(p).block_1", in: c, out: c, groups: groups)
        attn = VAEAttention(w, "\(p).attn_1", channels: c, groups: groups)
        block2 = ResnetBlock(w, "\(p).block_2", in: c, out: c, groups: groups)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { block2(attn(block1(x))) }
}
