extension Duration {
    /// The duration in (fractional) seconds, for rates and metrics.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
