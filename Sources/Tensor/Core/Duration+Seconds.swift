extension Duration {
    /// The duration in seconds as a Double (timings and progress reports across the package).
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
