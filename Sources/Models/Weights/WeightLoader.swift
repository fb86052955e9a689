import Quant
import Tensor

/// Hands weights to model constructors by canonical name, checking shapes, and remembers every
/// problem (missing tensor, wrong shape, unused tensor) so one error can name them all.
///
/// Model code calls `take(name, shape:)` for each parameter and then `finish()` once: a model is
/// never half-built from a checkpoint that does not fit it.
public final class WeightLoader {
    /// Component name for messages ("transformer", "text_encoder", ...).
    public let component: String
    let source: WeightSource
    private var used = Set<String>()
    private var problems: [String] = []
    /// Names that may legitimately be left unused (tied or derived tensors).
    public var ignoredUnused: (String) -> Bool = { _ in false }
    /// If set, floating tensors are converted to this dtype when taken (e.g. `.f32` for CPU compute).
    public var computeDType: DType?
    /// If set, tensors are copied to this backend when taken (before any dtype conversion, which then
    /// runs on that backend).
    public var backend: (any Backend)?

    /// If set, Linear weights this policy selects are quantized as they load (`--precision fp8`).
    public var quantization: LinearQuantization?
    private var checkpointView: QuantizedCheckpoint??

    public init(_ source: WeightSource, component: String) {
        self.source = source
        self.component = component
    }

    /// True when the checkpoint has a tensor of this name.
    public func has(_ name: String) -> Bool { source.shape(of: name) != nil }

    /// The shape stored under `name`, if any.
    public func shape(of name: String) -> [Int]? { source.shape(of: name) }

    /// The tensor `name`, which must have `shape` (nil = any shape). On a problem, records it and
    /// returns a zero placeholder of `shape` so construction can go on and report everything at once.
    public func take(_ name: String, shape: [Int]? = nil) -> Tensor {
        used.insert(name)
        if let checkpoint = try? quantizedCheckpoint(), let layer = checkpoint.scaledLayer(ofWeight: name) {
            return takeDequantized(layer, of: checkpoint, shape: shape)
        }
        guard let stored = source.shape(of: name) else {
            // Named as the file names it too (a diffusers or ComfyUI file's own keys), so a user can look for it.
            let stored = source.storedNames(of: name).map { " (in the file: \($0.joined(separator: " + ")))" } ?? ""
            problems.append("missing \(name)" + (shape.map { " \($0)" } ?? "") + stored)
            return placeholder(shape ?? [1])
        }
        if let shape, stored != shape {
            problems.append("\(name): checkpoint has shape \(stored), model expects \(shape)")
            return placeholder(shape)
        }
        // Model parameters are floats; integer codes without the scales that give them values are not.
        if let dtype = source.dtype(of: name), !dtype.isFloatingPoint {
            problems.append("\(name) is \(dtype), not a float type (a quantized layer needs its weight_scale tensor)")
            return placeholder(shape ?? stored)
        }
        do {
            var t = try source.tensor(name)
            if let backend, t.backend !== backend { t = t.moved(to: backend) }
            if let c = computeDType, t.dtype.isFloatingPoint, t.dtype != c { return t.to(c) }
            return t
        } catch {
            problems.append("\(name): \(error)")
            return placeholder(stored)
        }
    }

    /// A scaled weight taken as a plain tensor (an embedding table, or a Linear the model holds
    /// unquantized, e.g. after `quantize --all-linear`): its codes times their scales, never the bare
    /// codes, which would be wrong values (fp8) or no float at all (int8, packed int4).
    private func takeDequantized(_ layer: String, of checkpoint: QuantizedCheckpoint, shape: [Int]?) -> Tensor {
        let name = layer + ".weight"
        do {
            let q = try checkpoint.linearWeight(layer)
            markCompanionsUsed(layer)
            if let shape, [q.rows, q.columns] != shape {
                problems.append("\(name): checkpoint has shape \([q.rows, q.columns]), model expects \(shape)")
                return placeholder(shape)
            }
            var t = q.dequantized()
            if let backend, t.backend !== backend { t = t.moved(to: backend) }
            if let c = computeDType, t.dtype != c { t = t.to(c) }
            return t
        } catch {
            problems.append("\(name): \(error)")
            return placeholder(shape ?? [1])
        }
    }

    /// Like `take` but returns nil (and records nothing) when the tensor is absent.
    public func takeIfPresent(_ name: String, shape: [Int]? = nil) -> Tensor? {
        has(name) ? take(name, shape: shape) : nil
    }

    /// Marks a tensor as consumed without reading it (scale companions of quantized layers).
    func markUsed(_ name: String) { used.insert(name) }

    /// Marks the scale companions of Linear `layer` (weight and input scales, ComfyUI's markers) as consumed.
    func markCompanionsUsed(_ layer: String) {
        for suffix in [QuantKeys.weightScale, QuantKeys.scaleWeight, QuantKeys.inputScale, QuantKeys.scaleInput, QuantKeys.comfyQuant] {
            markUsed(layer + suffix)
        }
    }

    /// The source as a quantized checkpoint when it holds float8/int layers or scales; nil otherwise.
    func quantizedCheckpoint() throws -> QuantizedCheckpoint? {
        if let cached = checkpointView { return cached }
        let names = source.names
        let quantized = names.contains { QuantKeys.isCompanion($0) || [.f8e4m3fn, .f8e5m2].contains(source.dtype(of: $0)) }
        let view = quantized ? try QuantizedCheckpoint(WeightSourceTensors(source, description: component)) : nil
        checkpointView = .some(view)
        return view
    }

    /// Records a problem found by model code (e.g. an inconsistent config).
    public func report(_ problem: String) { problems.append(problem) }

    /// Throws `ModelError.weights` listing every missing, mis-shaped and unused tensor.
    public func finish() throws {
        // Quantization markers (`scaled_fp8`) and unclaimed scale companions of plain layers are not parameters.
        let unused = source.names.filter { !used.contains($0) && !ignoredUnused($0) && !QuantKeys.isCompanion($0) }.sorted()
        var all = problems + unused.map { "unexpected \($0)" }
        // Nothing of the model's in the file: say what the file looks like (another component's?).
        if !all.isEmpty, !source.names.isEmpty, used.allSatisfy({ source.shape(of: $0) == nil }),
           let kind = CheckpointKind.guess(source.names) {
            all.insert("none of this model's tensors are in the file; it looks like \(kind)", at: 0)
        }
        if !all.isEmpty { throw ModelError.weights(component: component, problems: all) }
    }

    /// A zero tensor of `shape` that allocates nothing (a broadcast scalar). A negative size can only
    /// come from an unchecked config: recorded as a problem, and the placeholder gets size 0 there.
    private func placeholder(_ shape: [Int]) -> Tensor {
        if shape.contains(where: { $0 < 0 }) { problems.append("a tensor of shape \(shape) was asked for (config out of bounds?)") }
        return Tensor.placeholder(shape, backend: backend ?? CPUBackend.shared)
    }
}
