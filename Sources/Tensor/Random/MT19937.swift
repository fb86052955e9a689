/// The 32-bit Mersenne Twister (MT19937) as PyTorch's CPU generator runs it
/// (`at::mt19937`, the reference algorithm with Knuth's `init_genrand` seeding).
///
/// The 624-word state lives in a fixed heap block owned by this struct's storage class, so drawing
/// numbers never copies or bounds-checks an array.
public struct MT19937 {
    @usableFromInline static let n = 624
    @usableFromInline static let m = 397

    @usableFromInline final class State {
        @usableFromInline let words: UnsafeMutablePointer<UInt32>
        /// Index of the next word to temper; `n` means the state must be regenerated first.
        @usableFromInline var next: Int
        init() {
            words = .allocate(capacity: MT19937.n)
            words.initialize(repeating: 0, count: MT19937.n)
            next = MT19937.n
        }
        @usableFromInline func copy() -> State {
            let c = State()
            c.words.update(from: words, count: MT19937.n)
            c.next = next
            return c
        }
        deinit { words.deallocate() }
    }

    @usableFromInline var state: State

    /// A generator seeded with the low 32 bits of `seed` (as `torch.Generator.manual_seed` does).
    public init(seed: UInt64) {
        state = State()
        reseed(seed)
    }

    /// Re-initialises the state from the low 32 bits of `seed`.
    public mutating func reseed(_ seed: UInt64) {
        if !isKnownUniquelyReferenced(&state) { state = State() }
        let w = state.words
        w[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<MT19937.n {
            let prev = w[i - 1]
            w[i] = 1_812_433_253 &* (prev ^ (prev >> 30)) &+ UInt32(i)
        }
        state.next = MT19937.n
    }

    /// Regenerates all 624 words (the "twist").
    @usableFromInline static func twist(_ w: UnsafeMutablePointer<UInt32>) {
        @inline(__always) func mix(_ a: UInt32, _ b: UInt32, _ c: UInt32) -> UInt32 {
            let y = (a & 0x8000_0000) | (b & 0x7FFF_FFFF)
            return c ^ (y >> 1) ^ ((y & 1) &* 0x9908_B0DF)
        }
        var i = 0
        while i < n - m { w[i] = mix(w[i], w[i + 1], w[i + m]); i += 1 }
        while i < n - 1 { w[i] = mix(w[i], w[i + 1], w[i + m - n]); i += 1 }
        w[n - 1] = mix(w[n - 1], w[0], w[m - 1])
    }

    /// The next 32-bit output.
    @inlinable @inline(__always)
    public mutating func next() -> UInt32 {
        if !isKnownUniquelyReferenced(&state) { state = state.copy() }
        return MT19937.draw(state)
    }

    /// Writes the next `count` outputs to `out`, in order.
    @inlinable
    public mutating func fill(_ out: UnsafeMutablePointer<UInt32>, count: Int) {
        if !isKnownUniquelyReferenced(&state) { state = state.copy() }
        let s = state
        for i in 0..<count { out[i] = MT19937.draw(s) }
    }

    @inlinable @inline(__always)
    static func draw(_ s: State) -> UInt32 {
        if s.next >= MT19937.n {
            MT19937.twist(s.words)
            s.next = 0
        }
        var y = s.words[s.next]
        s.next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }
}
