/// A strict JSON reader that extracts the workspace ids a request body names, for policy checks.
///
/// It validates the whole document (RFC 8259, UTF-8, nesting ≤ 64) and refuses anything two JSON
/// parsers could read differently: duplicate keys, and keys that Go's `encoding/json` would fold
/// onto the same field (it matches names case-insensitively and folds `ſ`→`s`, `K`→`k`). Top-level
/// keys folding to `workspaceid` must hold a string, to `workspaceids` an array of strings.
public enum JSONBodyScanner {
    public enum Outcome: Sendable, Equatable {
        /// Every workspace id named at top level (empty when none is).
        case workspaces([String])
        /// The body is not acceptable JSON, or names a workspace ambiguously; the reason is for explain.
        case invalid(String)
    }

    public static func workspaces(in body: [UInt8]) -> Outcome {
        var parser = Parser(bytes: body)
        do {
            parser.skipWhitespace()
            guard parser.peek() == UInt8(ascii: "{") else { return .invalid("body is not a JSON object") }
            let found = try parser.parseTopLevelObject()
            parser.skipWhitespace()
            guard parser.atEnd else { return .invalid("trailing bytes after the JSON value") }
            return .workspaces(found)
        } catch {
            return .invalid(error.reason)
        }
    }

    /// Go's case folding of object keys, as far as it can matter for ASCII field names.
    static func fold(_ key: String) -> String {
        var out = ""
        for scalar in key.unicodeScalars {
            switch scalar.value {
            case 0x212A: out += "k"
            case 0x017F: out += "s"
            case 0x41...0x5A: out.unicodeScalars.append(Unicode.Scalar(scalar.value + 0x20)!)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    struct ScanError: Error {
        let reason: String
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0
        static let maxDepth = 64

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(ScanError) {
            guard peek() == byte else { throw ScanError(reason: "malformed JSON at byte \(index)") }
            index += 1
        }

        mutating func parseTopLevelObject() throws(ScanError) -> [String] {
            var found: [String] = []
            try parseObject(depth: 1) { parser, key throws(ScanError) in
                switch fold(key) {
                case "workspaceid":
                    guard parser.peek() == UInt8(ascii: "\"") else {
                        throw ScanError(reason: "workspaceId is not a string")
                    }
                    found.append(try parser.parseString())
                    return true
                case "workspaceids":
                    guard parser.peek() == UInt8(ascii: "[") else {
                        throw ScanError(reason: "workspaceIds is not an array")
                    }
                    found += try parser.parseStringArray()
                    return true
                default:
                    return false
                }
            }
            return found
        }

        /// Parses an object; `onKey` may consume the value itself and return true.
        mutating func parseObject(
            depth: Int, onKey: (inout Parser, String) throws(ScanError) -> Bool = { _, _ in false }
        ) throws(ScanError) {
            guard depth <= Self.maxDepth else { throw ScanError(reason: "JSON nested too deeply") }
            try expect(UInt8(ascii: "{"))
            var seen: Set<String> = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw ScanError(reason: "malformed JSON at byte \(index)") }
                let key = try parseString()
                guard seen.insert(fold(key)).inserted else {
                    throw ScanError(reason: "duplicate (or case-folded duplicate) key in JSON object")
                }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                if try !onKey(&self, key) { try parseValue(depth: depth) }
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return
            }
        }

        mutating func parseStringArray() throws(ScanError) -> [String] {
            try expect(UInt8(ascii: "["))
            var out: [String] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return out
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw ScanError(reason: "workspaceIds holds a non-string") }
                out.append(try parseString())
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return out
            }
        }

        mutating func parseValue(depth: Int) throws(ScanError) {
            guard let byte = peek() else { throw ScanError(reason: "unexpected end of JSON") }
            switch byte {
            case UInt8(ascii: "{"): try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): _ = try parseString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try parseNumber()
            }
        }

        mutating func parseArray(depth: Int) throws(ScanError) {
            guard depth <= Self.maxDepth else { throw ScanError(reason: "JSON nested too deeply") }
            try expect(UInt8(ascii: "["))
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try parseValue(depth: depth)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return
            }
        }

        mutating func literal(_ word: String) throws(ScanError) {
            let expected = Array(word.utf8)
            guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else {
                throw ScanError(reason: "malformed JSON literal at byte \(index)")
            }
            index += expected.count
        }

        mutating func parseNumber() throws(ScanError) {
            let start = index
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), isDigit(first) else { throw ScanError(reason: "malformed JSON at byte \(start)") }
            index += 1
            if first != UInt8(ascii: "0") { while let d = peek(), isDigit(d) { index += 1 } }
            if peek() == UInt8(ascii: ".") {
                index += 1
                guard let d = peek(), isDigit(d) else { throw ScanError(reason: "malformed JSON number") }
                while let d = peek(), isDigit(d) { index += 1 }
            }
            if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                index += 1
                if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
                guard let d = peek(), isDigit(d) else { throw ScanError(reason: "malformed JSON number") }
                while let d = peek(), isDigit(d) { index += 1 }
            }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

        /// Parses a string literal and returns its decoded value (valid UTF-8, no lone surrogates).
        mutating func parseString() throws(ScanError) -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard let byte = peek() else { throw ScanError(reason: "unterminated JSON string") }
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw ScanError(reason: "JSON string is not valid UTF-8")
                    }
                    return text
                case 0x00..<0x20:
                    throw ScanError(reason: "control character in JSON string")
                case UInt8(ascii: "\\"):
                    guard let escape = peek() else { throw ScanError(reason: "unterminated JSON string") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var value = try hex4()
                        if (0xD800..<0xDC00).contains(value) {
                            guard peek() == UInt8(ascii: "\\") else { throw ScanError(reason: "lone surrogate") }
                            index += 1
                            try expect(UInt8(ascii: "u"))
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw ScanError(reason: "lone surrogate") }
                            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(value) {
                            throw ScanError(reason: "lone surrogate")
                        }
                        guard let scalar = Unicode.Scalar(value) else { throw ScanError(reason: "invalid \\u escape") }
                        out += Array(String(Character(scalar)).utf8)
                    default:
                        throw ScanError(reason: "invalid escape in JSON string")
                    }
                default:
                    out.append(byte)
                }
            }
        }

        mutating func hex4() throws(ScanError) -> UInt32 {
            guard bytes.count - index >= 4 else { throw ScanError(reason: "invalid \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let nibble = TargetNormalizer.hexValue(bytes[index]) else {
                    throw ScanError(reason: "invalid \\u escape")
                }
                value = value << 4 | UInt32(nibble)
                index += 1
            }
            return value
        }
    }
}
