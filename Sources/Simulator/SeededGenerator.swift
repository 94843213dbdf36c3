import Policy

extension SeededGenerator {
    /// A cuid-like id as Astro uses them: 25 lowercase alphanumerics starting with `c`.
    mutating func cuid() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".unicodeScalars)
        var id = "c"
        for _ in 0..<24 { id.unicodeScalars.append(alphabet[Int(next(upperBound: UInt64(alphabet.count)))]) }
        return id
    }
}
