#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// T5's bucketed relative position bias (bidirectional, encoder side).
enum T5RelativePosition {
    /// Bucket of `rel = key - query`, computed in float32 as transformers does.
    static func bucket(_ rel: Int, numBuckets: Int, maxDistance: Int) -> Int {
        let half = numBuckets / 2
        var ret = rel > 0 ? half : 0
        let n = abs(rel)
        let maxExact = half / 2
        if n < maxExact { return ret + n }
        let ratio = Float(log(Float(n) / Float(maxExact))) / Float(log(Double(maxDistance) / Double(maxExact)))
        let large = maxExact + Int(ratio * Float(half - maxExact))
        ret += min(large, half - 1)
        return ret
    }

    /// The additive bias (1, H, L, L) from the bias table (buckets, H).
    static func bias(table: Tensor, length l: Int, numBuckets: Int, maxDistance: Int) -> Tensor {
        let idx = (0..<(l * l)).map { i in bucket(i % l - i / l, numBuckets: numBuckets, maxDistance: maxDistance) }
        let gathered = embedding(table, Tensor(integers: idx, shape: [l, l], backend: table.backend))  // (L, L, H)
        return gathered.permuted(2, 0, 1).unsqueezed(0).contiguous()
    }
}
