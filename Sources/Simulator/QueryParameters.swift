/// A decoded query string: keys may repeat (`workspaceIds=a&workspaceIds=b`), order is kept.
struct QueryParameters: Sendable {
    private(set) var pairs: [(key: String, value: String)] = []

    init(_ raw: String?) {
        guard let raw, !raw.isEmpty else { return }
        for part in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(pieces[0])
            let value = pieces.count > 1 ? Self.decode(pieces[1]) : ""
            pairs.append((key, value))
        }
    }

    func values(_ key: String) -> [String] { pairs.filter { $0.key == key }.map(\.value) }

    func first(_ key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// Form decoding: `+` is a space, `%XX` a byte; malformed escapes are kept literally.
    static func decode<S: StringProtocol>(_ text: S) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < utf8.count,
                let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Path-segment decoding: like `decode` but `+` stays a plus.
    static func decodePathSegment<S: StringProtocol>(_ text: S) -> String {
        decode(text.replacingPlus())
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension StringProtocol {
    /// `+` encoded as `%2B`, so form decoding leaves it a plus.
    fileprivate func replacingPlus() -> String {
        var out = ""
        for character in self { out += character == "+" ? "%2B" : String(character) }
        return out
    }
}
