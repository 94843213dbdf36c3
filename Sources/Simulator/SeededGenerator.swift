/// SplitMix64: a small, fast, seedable generator, so runs with the same seed repeat exactly.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A cuid-like id as Astro uses them: 25 lowercase alphanumerics starting with `c`.
    mutating func cuid() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".unicodeScalars)
        var id = "c"
        for _ in 0..<24 { id.unicodeScalars.append(alphabet[Int(next(upperBound: UInt64(alphabet.count)))]) }
        return id
    }
}
