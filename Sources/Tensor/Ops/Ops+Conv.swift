/// 2-D convolution and nearest-neighbour upsampling on (N, C, H, W) tensors.

/// 2-D convolution (PyTorch `torch.nn.functional.conv2d`) with symmetric padding.
///
/// - Parameters:
///   - x: (N, Cin, H, W).
///   - weight: (Cout, Cin / groups, kh, kw).
///   - bias: optional (Cout).
///   - stride: the same stride along both axes.
///   - padding: zero padding on all four sides.
///   - groups: input and output channels split into this many independent groups.
/// - Returns: (N, Cout, Ho, Wo) with Ho = (H + 2 padding - kh) / stride + 1 (likewise Wo); f32 on the CPU.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   groups: Int = 1) -> Tensor {
    conv2d(x, weight: weight, bias: bias, stride: (stride, stride),
           padding: (top: padding, bottom: padding, left: padding, right: padding), groups: groups)
}

/// 2-D convolution with per-axis stride (sh, sw) and no padding.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int), padding: Int = 0,
                   groups: Int = 1) -> Tensor {
    conv2d(x, weight: weight, bias: bias, stride: stride,
           padding: (top: padding, bottom: padding, left: padding, right: padding), groups: groups)
}

/// 2-D convolution with per-axis padding (ph, pw): ph rows top and bottom, pw columns left and right.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int), groups: Int = 1) -> Tensor {
    conv2d(x, weight: weight, bias: bias, stride: stride,
           padding: (top: padding.0, bottom: padding.0, left: padding.1, right: padding.1), groups: groups)
}

/// 2-D convolution with explicit, possibly asymmetric padding (top, bottom, left, right); e.g. the
/// Stable Diffusion / Flux VAE encoder pads (0, 1, 0, 1) before a stride-2 3x3 conv.
///
/// - Parameters:
///   - x: (N, Cin, H, W).
///   - weight: (Cout, Cin / groups, kh, kw).
///   - bias: optional (Cout).
///   - stride: (sh, sw).
///   - padding: zeros added (top, bottom, left, right).
///   - groups: input and output channels split into this many independent groups.
/// - Returns: (N, Cout, Ho, Wo), Ho = (H + top + bottom - kh) / sh + 1, Wo likewise; f32 on the CPU.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (top: Int, bottom: Int, left: Int, right: Int), groups: Int = 1) -> Tensor {
    precondition(x.rank == 4, "conv2d: input must be (N, C, H, W), got \(x.shape)")
    precondition(weight.rank == 4, "conv2d: weight must be (Cout, Cin/groups, kh, kw), got \(weight.shape)")
    precondition(groups >= 1 && x.shape[1] % groups == 0 && weight.shape[0] % groups == 0,
                 "conv2d: groups \(groups) must divide input channels \(x.shape[1]) and output channels \(weight.shape[0])")
    precondition(weight.shape[1] * groups == x.shape[1],
                 "conv2d: input \(x.shape) has \(x.shape[1]) channels, weight \(weight.shape) with groups \(groups) expects \(weight.shape[1] * groups)")
    precondition(stride.0 >= 1 && stride.1 >= 1, "conv2d: stride \(stride) must be positive")
    precondition(padding.top >= 0 && padding.bottom >= 0 && padding.left >= 0 && padding.right >= 0,
                 "conv2d: padding \(padding) must be non-negative")
    let hp = x.shape[2] + padding.top + padding.bottom, wp = x.shape[3] + padding.left + padding.right
    precondition(hp >= weight.shape[2] && wp >= weight.shape[3],
                 "conv2d: padded input \(hp)x\(wp) is smaller than the kernel \(weight.shape[2])x\(weight.shape[3])")
    if let bias {
        precondition(bias.count == weight.shape[0] && bias.rank <= 1,
                     "conv2d: bias \(bias.shape) does not match \(weight.shape[0]) output channels")
        precondition(bias.backend === x.backend, "conv2d: bias lives on \(bias.device), input on \(x.device)")
    }
    precondition(weight.backend === x.backend, "conv2d: weight lives on \(weight.device), input on \(x.device)")
    return x.backend.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
}

/// Nearest-neighbour 2x upsampling (PyTorch `interpolate(scale_factor=2, mode="nearest")`):
/// (N, C, H, W) -> (N, C, 2H, 2W), each input pixel copied to a 2x2 block. f32 on the CPU.
public func upsampleNearest2x(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "upsampleNearest2x: input must be (N, C, H, W), got \(x.shape)")
    return x.backend.upsampleNearest2x(x)
}
