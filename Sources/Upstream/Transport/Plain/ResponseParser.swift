/// Reads one HTTP/1.x response from a connection's bytes, as they arrive, strictly.
///
/// The plain-HTTP client's framing decisions are made here and nowhere else, so they can be tested
/// (and fuzzed) without a socket. Anything a careful client could read two ways is refused rather
/// than guessed at: a response with both `Content-Length` and `Transfer-Encoding`, differing
/// `Content-Length` values, a transfer coding other than `chunked`, folded header lines, a bare CR,
/// control characters in a value, a malformed chunk size. A refused response never reaches the
/// client (502), and its connection is closed.
///
/// Framing follows RFC 9112 §6.3: no body for 1xx, 204 and 304 (and after a HEAD request), then
/// `Transfer-Encoding: chunked`, then `Content-Length`, else the body runs until the connection
/// closes. Interim 1xx answers are skipped; `101 Switching Protocols` was never asked for and is
/// refused. Trailer fields after a chunked body are read and dropped (the gateway re-frames the
/// body for its client with a length).
struct ResponseParser {
    enum Outcome: Equatable {
        /// The response is not complete yet: feed more bytes (or `endOfInput()` at EOF).
        case needMore
        /// The whole response is read; `consumed` bytes of the last input belonged to it.
        case complete
        /// The bytes are not a response this client will pass on (the reason names why).
        case failed(String)
    }

    private enum State {
        case statusLine, headers, body(remaining: Int), untilClose
        case chunkSize, chunkData(remaining: Int), chunkDataEnd, trailers
        case done, failed
    }

    /// Status line plus header fields (and, separately, trailer fields): curl's limit for one line.
    let maxHeaderBytes: Int
    let maxBodyBytes: Int
    /// The request was HEAD: the answer has no body whatever its headers say.
    let requestWasHead: Bool

    private(set) var status = 0
    private(set) var headers = HeaderList()
    private(set) var body: [UInt8] = []
    /// The connection may carry another request after this response.
    private(set) var reusable = true
    /// Any byte arrived (a reused connection that closes before one did may be retried).
    private(set) var receivedAny = false
    /// The failure was the body cap.
    private(set) var tooLarge = false

    private var state = State.statusLine
    /// A line split across inputs (only then are its bytes copied here).
    private var partial: [UInt8] = []
    private var headerBytes = 0
    private var trailerBytes = 0
    private var contentLength: Int?
    private var chunked = false
    private var sawTransferEncoding = false

    init(maxHeaderBytes: Int = 100 * 1024, maxBodyBytes: Int, requestWasHead: Bool = false) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.requestWasHead = requestWasHead
    }

    /// Feeds the next bytes. Returns the outcome and how many bytes were used: on `.complete`,
    /// bytes after that belong to no request (the connection must not be reused).
    mutating func feed(_ input: UnsafeRawBufferPointer) -> (outcome: Outcome, consumed: Int) {
        if !input.isEmpty { receivedAny = true }
        var at = 0
        let count = input.count
        while true {
            switch state {
            case .done: return (.complete, at)
            case .failed: return (.failed(failure), at)
            case .body(let remaining):
                let left = copyBody(input, at: &at, remaining: remaining)
                guard left == 0 else {
                    state = .body(remaining: left)
                    return (.needMore, at)
                }
                state = .done
            case .untilClose:
                let n = count - at
                if body.count + n > maxBodyBytes { return (failTooLarge(), at) }
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[at..<count]))
                return (.needMore, count)
            case .chunkData(let remaining):
                let left = copyBody(input, at: &at, remaining: remaining)
                guard left == 0 else {
                    state = .chunkData(remaining: left)
                    return (.needMore, at)
                }
                state = .chunkDataEnd
            case .statusLine, .headers, .chunkSize, .chunkDataEnd, .trailers:
                // One line: parsed in place when it is whole in this input, else collected.
                let start = at
                var end = start
                while end < count && input[end] != 10 { end += 1 }
                let lineBytes = end - start + (end < count ? 1 : 0)
                if !countLineBytes(lineBytes) { return (.failed(failure), at) }
                if end == count {
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[start..<end]))
                    return (.needMore, count)
                }
                at = end + 1
                if partial.isEmpty {
                    line(UnsafeRawBufferPointer(rebasing: input[start..<end]))
                } else {
                    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[start..<end]))
                    let whole = partial
                    partial = []
                    whole.withUnsafeBytes { line($0) }
                }
            }
        }
    }

    /// Appends up to `remaining` body bytes from `input` at `at` (advancing it); returns how many
    /// are still owed.
    private mutating func copyBody(_ input: UnsafeRawBufferPointer, at: inout Int, remaining: Int) -> Int {
        let n = min(remaining, input.count - at)
        body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[at..<(at + n)]))
        at += n
        return remaining - n
    }

    /// The connection closed. A body read until close ends here; anything else is cut short.
    mutating func endOfInput() -> Outcome {
        switch state {
        case .done: return .complete
        case .failed: return .failed(failure)
        case .untilClose:
            state = .done
            return .complete
        case .statusLine where !receivedAny:
            return fail("connection closed before any response")
        default:
            return fail("connection closed before the response ended")
        }
    }

    // MARK: - Lines

    private var failure = ""

    private mutating func fail(_ why: String) -> Outcome {
        failure = why
        state = .failed
        reusable = false
        return .failed(why)
    }

    private mutating func failTooLarge() -> Outcome {
        self.tooLarge = true
        return fail("response larger than \(maxBodyBytes) bytes")
    }

    /// Counts a line (with its LF) against the header cap of its section.
    private mutating func countLineBytes(_ n: Int) -> Bool {
        switch state {
        case .statusLine, .headers:
            headerBytes += n
            if headerBytes > maxHeaderBytes {
                _ = fail("response header too large (over \(maxHeaderBytes) bytes)")
                return false
            }
        case .trailers:
            trailerBytes += n
            if trailerBytes > maxHeaderBytes {
                _ = fail("response trailer too large (over \(maxHeaderBytes) bytes)")
                return false
            }
        default:
            // A chunk-size line with extensions: bounded like a header line (`partial` holds the
            // line's earlier pieces when it arrived split).
            if partial.count + n > maxHeaderBytes {
                _ = fail("chunk size line too long")
                return false
            }
        }
        return true
    }

    /// One line without its LF; a CR before the LF is dropped, a CR anywhere else is refused.
    private mutating func line(_ raw: UnsafeRawBufferPointer) {
        var line = raw
        if let last = line.last, last == 13 { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if line.contains(13) {
            _ = fail("bare CR in the response head")
            return
        }
        switch state {
        case .statusLine: statusLine(line)
        case .headers: headerLine(line)
        case .chunkSize: chunkSizeLine(line)
        case .chunkDataEnd:
            if line.isEmpty {
                state = .chunkSize
            } else {
                _ = fail("chunk data longer than its size")
            }
        case .trailers:
            if line.isEmpty {
                state = .done
            } else if !Self.isFieldLine(line) {
                _ = fail("malformed trailer field")
            }
        default: break
        }
    }

    private mutating func statusLine(_ line: UnsafeRawBufferPointer) {
        // "HTTP/1.x SP 3DIGIT [SP reason]"
        let prefix: StaticString = "HTTP/1."
        guard line.count >= 12, (0..<7).allSatisfy({ line[$0] == prefix.utf8Start[$0] }),
            line[7] == 48 || line[7] == 49,
            line[8] == 32, (9..<12).allSatisfy({ Self.isDigit(line[$0]) }), line.count == 12 || line[12] == 32,
            !line[12...].contains(where: Self.isControl)
        else {
            _ = fail("not an HTTP/1.x status line")
            return
        }
        status = Int(line[9] - 48) * 100 + Int(line[10] - 48) * 10 + Int(line[11] - 48)
        guard status >= 100 else {
            _ = fail("status code \(status) out of range")
            return
        }
        if line[7] == 48 { reusable = false }
        state = .headers
    }

    private mutating func headerLine(_ line: UnsafeRawBufferPointer) {
        if line.isEmpty {
            endOfHeaders()
            return
        }
        guard Self.isFieldLine(line), let colon = line.firstIndex(of: 58) else {
            if let first = line.first, first == 32 || first == 9 {
                _ = fail("folded header line")
            } else {
                _ = fail("malformed header line")
            }
            return
        }
        var start = colon + 1
        var end = line.count
        while start < end && (line[start] == 32 || line[start] == 9) { start += 1 }
        while end > start && (line[end - 1] == 32 || line[end - 1] == 9) { end -= 1 }
        let nameBytes = UnsafeRawBufferPointer(rebasing: line[0..<colon])
        let valueBytes = UnsafeRawBufferPointer(rebasing: line[start..<end])
        let name = String(decoding: nameBytes, as: UTF8.self)
        let value = String(decoding: valueBytes, as: UTF8.self)
        if headers.fields.isEmpty { headers.fields.reserveCapacity(12) }
        headers.append(name, value)
        switch nameBytes.count {
        case 14 where Self.equalsLowercase(nameBytes, "content-length"): contentLengthField(valueBytes)
        case 17 where Self.equalsLowercase(nameBytes, "transfer-encoding"): transferEncodingField(valueBytes)
        case 10 where Self.equalsLowercase(nameBytes, "connection"):
            Self.forEachToken(valueBytes) { token in
                if Self.equalsLowercase(token, "close") { reusable = false }
                return true
            }
        default: break
        }
    }

    private mutating func contentLengthField(_ value: UnsafeRawBufferPointer) {
        // Repeats (one field or several) are allowed only when every value is the same number.
        Self.forEachToken(value) { token in
            guard !token.isEmpty, token.count <= 18, token.allSatisfy(Self.isDigit) else {
                _ = fail("malformed Content-Length")
                return false
            }
            let length = token.reduce(0) { $0 * 10 + Int($1 - 48) }
            if let known = contentLength, known != length {
                _ = fail("conflicting Content-Length values")
                return false
            }
            contentLength = length
            return true
        }
    }

    private mutating func transferEncodingField(_ value: UnsafeRawBufferPointer) {
        Self.forEachToken(value) { token in
            // Only "chunked", once: any other coding (or chunked twice) would need decoding we
            // do not do, and passing it on undecoded would corrupt the body.
            guard Self.equalsLowercase(token, "chunked"), !chunked else {
                _ = fail("unsupported Transfer-Encoding")
                return false
            }
            chunked = true
            return true
        }
        sawTransferEncoding = true
    }

    private mutating func endOfHeaders() {
        if (100..<200).contains(status) {
            if status == 101 {
                _ = fail("unexpected 101 Switching Protocols")
                return
            }
            // An interim answer: the real one follows.
            headers = HeaderList()
            status = 0
            contentLength = nil
            chunked = false
            sawTransferEncoding = false
            reusable = true
            state = .statusLine
            return
        }
        if sawTransferEncoding && contentLength != nil {
            _ = fail("both Content-Length and Transfer-Encoding")
            return
        }
        if sawTransferEncoding && !chunked {
            _ = fail("unsupported Transfer-Encoding")
            return
        }
        if requestWasHead || status == 204 || status == 304 {
            state = .done
        } else if chunked {
            state = .chunkSize
        } else if let length = contentLength {
            if length > maxBodyBytes {
                _ = failTooLarge()
            } else if length == 0 {
                state = .done
            } else {
                body.reserveCapacity(length)
                state = .body(remaining: length)
            }
        } else {
            reusable = false
            state = .untilClose
        }
    }

    private mutating func chunkSizeLine(_ line: UnsafeRawBufferPointer) {
        var size = 0
        var i = 0
        while i < line.count, let digit = Self.hexValue(line[i]) {
            guard i < 15 else {
                _ = fail("chunk size too large")
                return
            }
            size = size << 4 | digit
            i += 1
        }
        guard i > 0 else {
            _ = fail("malformed chunk size")
            return
        }
        // Chunk extensions (ignored): optional whitespace, then ";" and anything printable.
        var j = i
        while j < line.count && (line[j] == 32 || line[j] == 9) { j += 1 }
        guard j == line.count || (line[j] == 59 && !line[j...].contains(where: Self.isControl)) else {
            _ = fail("malformed chunk size")
            return
        }
        if size == 0 {
            state = .trailers
        } else if body.count + size > maxBodyBytes {
            _ = failTooLarge()
        } else {
            state = .chunkData(remaining: size)
        }
    }

    // MARK: - Bytes

    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// Control characters other than HT (CR and LF never reach here inside a line).
    static func isControl(_ b: UInt8) -> Bool { (b < 32 && b != 9) || b == 127 }

    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: Int(b - 48)
        case 65...70: Int(b - 55)
        case 97...102: Int(b - 87)
        default: nil
        }
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// `name ":" value` with a token name (no space before the colon) and no control character
    /// in the value.
    static func isFieldLine(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let colon = line.firstIndex(of: 58), colon > 0 else { return false }
        for i in 0..<colon where !isTokenByte(line[i]) { return false }
        for i in (colon + 1)..<line.count where isControl(line[i]) { return false }
        return true
    }

    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let other = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        for i in 0..<bytes.count {
            let b = bytes[i]
            if (b >= 65 && b <= 90 ? b | 0x20 : b) != other[i] { return false }
        }
        return true
    }

    /// Calls `body` with each comma-separated member of a list value, whitespace trimmed (empty
    /// members too, so "5,,5" is refused for Content-Length), until it returns false. No array:
    /// this runs for the framing fields of every answer.
    static func forEachToken(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
        var start = 0
        while true {
            var end = start
            while end < value.count && value[end] != 44 { end += 1 }
            var s = start
            var e = end
            while s < e && (value[s] == 32 || value[s] == 9) { s += 1 }
            while e > s && (value[e - 1] == 32 || value[e - 1] == 9) { e -= 1 }
            guard body(UnsafeRawBufferPointer(rebasing: value[s..<e])), end < value.count else { return }
            start = end + 1
        }
    }
}
