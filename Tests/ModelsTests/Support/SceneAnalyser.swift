/// The default model's quality check: which colour, shape and position the dominant foreground
/// object of an RGB picture has, by fixed rules (no neural network). A line-by-line port of
/// Tools/train_default_model/analyser.py; the rules are in Tools/train_default_model/ANALYSER.md.
struct SceneAnalyser {
    static let foregroundThreshold = 48.0
    static let minPixels = 20
    static let squareFill = 0.90
    static let circleTop = 0.43
    static let triangleBottom = 0.62
    /// scenes.COLOURS, in order.
    static let palette: [(String, [Double])] = [
        ("red", [220, 40, 40]), ("orange", [245, 140, 20]), ("yellow", [240, 220, 40]), ("green", [40, 170, 60]),
        ("cyan", [40, 200, 215]), ("blue", [40, 80, 225]), ("purple", [140, 60, 200]), ("pink", [250, 130, 200]),
    ]
    static let shapes = ["circle", "square", "triangle", "star"]

    struct Result: Equatable {
        /// Indices into palette / shapes / the 9 positions (row * 3 + column); nil when no object.
        var colour: Int?, shape: Int?, position: Int?
        var triple: [Int]? { colour.flatMap { c in shape.flatMap { s in position.map { [c, s, $0] } } } }
    }

    /// `rgb`: interleaved 8-bit RGB, row-major.
    static func analyse(rgb: [UInt8], width w: Int, height h: Int) -> Result {
        func px(_ x: Int, _ y: Int, _ c: Int) -> Double { Double(rgb[(y * w + x) * 3 + c]) }
        // 1. background: per-channel median of the 2-pixel frame
        var frame: [(Int, Int)] = []
        for y in [0, 1, h - 2, h - 1] { for x in 0..<w { frame.append((x, y)) } }
        for y in 2..<(h - 2) { for x in [0, 1, w - 2, w - 1] { frame.append((x, y)) } }
        let bg = (0..<3).map { c -> Double in
            let v = frame.map { px($0.0, $0.1, c) }.sorted()
            return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        }
        // 2. foreground mask
        var mask = [Bool](repeating: false, count: w * h)
        for y in 0..<h { for x in 0..<w {
            let d = (0..<3).map { (px(x, y, $0) - bg[$0]) * (px(x, y, $0) - bg[$0]) }.reduce(0, +)
            mask[y * w + x] = d.squareRoot() > foregroundThreshold
        } }
        // 3. largest 4-connected component, row-major scan, BFS, first found wins ties
        var seen = [Bool](repeating: false, count: w * h)
        var best: [Int] = []
        for start in 0..<(w * h) where mask[start] && !seen[start] {
            var comp = [start], head = 0
            seen[start] = true
            while head < comp.count {
                let p = comp[head]; head += 1
                let (x, y) = (p % w, p / w)
                for (nx, ny) in [(x, y - 1), (x, y + 1), (x - 1, y), (x + 1, y)]
                where nx >= 0 && nx < w && ny >= 0 && ny < h && mask[ny * w + nx] && !seen[ny * w + nx] {
                    seen[ny * w + nx] = true
                    comp.append(ny * w + nx)
                }
            }
            if comp.count > best.count { best = comp }
        }
        if best.count < minPixels { return Result() }
        var inComp = [Bool](repeating: false, count: w * h)
        for p in best { inComp[p] = true }
        // 4. colour: mean of interior pixels, nearest palette entry
        let interior = best.filter { p in
            let (x, y) = (p % w, p / w)
            return x > 0 && y > 0 && x < w - 1 && y < h - 1 && inComp[p - 1] && inComp[p + 1] && inComp[p - w] && inComp[p + w]
        }
        let sel = interior.isEmpty ? best : interior
        let mean = (0..<3).map { c in sel.map { px($0 % w, $0 / w, c) }.reduce(0, +) / Double(sel.count) }
        var colour = 0, bestDist = Double.infinity
        for (i, entry) in palette.enumerated() {
            let d = (0..<3).map { (entry.1[$0] - mean[$0]) * (entry.1[$0] - mean[$0]) }.reduce(0, +)
            if d < bestDist { bestDist = d; colour = i }
        }
        // 5. position: centroid in thirds
        let xs = best.map { $0 % w }, ys = best.map { $0 / w }
        let cx = (Double(xs.reduce(0, +)) / Double(best.count) + 0.5) / Double(w)
        let cy = (Double(ys.reduce(0, +)) / Double(best.count) + 0.5) / Double(h)
        func third(_ v: Double) -> Int { v < 1.0 / 3 ? 0 : (v < 2.0 / 3 ? 1 : 2) }
        let position = third(cy) * 3 + third(cx)
        // 6. shape: bounding-box fill, band coverage near the top and bottom
        let (x0, x1, y0, y1) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1)
        let fill = Double(best.count) / Double(bw * bh)
        func band(_ a: Double, _ b: Double) -> Double {
            let lo = y0 + Int(a * Double(bh)), hi = min(y0 + Int(b * Double(bh)), h - 1)
            guard hi >= lo else { return 0 }
            var total = 0
            for y in lo...hi { for x in x0...x1 where inComp[y * w + x] { total += 1 } }
            return Double(total) / Double(hi - lo + 1) / Double(bw)
        }
        let top = band(0.10, 0.20), bottom = band(0.80, 0.90)
        let shape = fill >= squareFill ? 1 : (top >= circleTop ? 0 : (bottom >= triangleBottom ? 2 : 3))
        return Result(colour: colour, shape: shape, position: position)
    }
}
