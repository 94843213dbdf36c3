import Policy
import Testing

@testable import Upstream

/// The plain-HTTP client's response framing (`ResponseParser`): what it reads, what it refuses,
/// and that the answer never depends on how the bytes were split across reads.
@Suite struct ResponseParserTests {
    /// What a parse came to, comparable across different ways of feeding the same bytes.
    enum Parsed: Equatable, CustomStringConvertible {
        case complete(status: Int, headers: [String], body: [UInt8], reusable: Bool, leftover: Int)
        case failed(String)
        case incomplete

        var description: String {
            switch self {
            case .complete(let status, let headers, let body, let reusable, let leftover):
                "complete \(status) \(headers) body \(String(decoding: body, as: UTF8.self).debugDescription) reusable \(reusable) leftover \(leftover)"
            case .failed(let why): "failed: \(why)"
            case .incomplete: "incomplete"
            }
        }

        var failure: String? {
            if case .failed(let why) = self { return why }
            return nil
        }
    }

    static func parse(
        _ bytes: [UInt8], splits: [Int] = [], eof: Bool = true, maxBody: Int = 1 << 20, maxHeader: Int = 100 * 1024,
        head: Bool = false
    ) -> Parsed {
        var parser = ResponseParser(maxHeaderBytes: maxHeader, maxBodyBytes: maxBody, requestWasHead: head)
        var cuts = splits.filter { $0 > 0 && $0 < bytes.count }.sorted()
        cuts.append(bytes.count)
        var start = 0
        for cut in cuts where cut > start || bytes.isEmpty {
            let chunk = Array(bytes[start..<cut])
            let (outcome, consumed) = chunk.withUnsafeBytes { parser.feed($0) }
            switch outcome {
            case .complete:
                return .complete(
                    status: parser.status, headers: parser.headers.fields.map { "\($0.name)=\($0.value)" },
                    body: parser.body, reusable: parser.reusable, leftover: bytes.count - (start + consumed))
            case .failed(let why): return .failed(why)
            case .needMore: break
            }
            start = cut
        }
        guard eof else { return .incomplete }
        switch parser.endOfInput() {
        case .complete:
            return .complete(
                status: parser.status, headers: parser.headers.fields.map { "\($0.name)=\($0.value)" },
                body: parser.body, reusable: parser.reusable, leftover: 0)
        case .failed(let why): return .failed(why)
        case .needMore: return .incomplete
        }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// The same bytes in one read, a byte at a time, and split at every single point: one answer.
    static func parseEveryWay(_ text: String, head: Bool = false, maxBody: Int = 1 << 20) -> Parsed {
        let input = bytes(text)
        let whole = parse(input, maxBody: maxBody, head: head)
        let byByte = parse(input, splits: Array(0..<input.count), maxBody: maxBody, head: head)
        #expect(whole == byByte, "byte by byte: \(byByte) vs \(whole)")
        for cut in 0..<input.count {
            let split = parse(input, splits: [cut], maxBody: maxBody, head: head)
            if split != whole {
                Issue.record("split at \(cut): \(split) vs \(whole)")
                break
            }
        }
        return whole
    }

    // MARK: - Read

    @Test func aLengthFramedAnswer() {
        let parsed = Self.parseEveryWay(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        #expect(
            parsed
                == .complete(
                    status: 200, headers: ["Content-Type=application/json", "Content-Length=7"],
                    body: Self.bytes("{\"a\":1}"), reusable: true, leftover: 0))
    }

    @Test func aChunkedAnswerWithExtensionsAndTrailers() {
        let parsed = Self.parseEveryWay(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5;name=value\r\nhello\r\n1 ; x\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        #expect(
            parsed
                == .complete(
                    status: 200, headers: ["Transfer-Encoding=Chunked"], body: Self.bytes("hello world!"),
                    reusable: true, leftover: 0))
    }

    @Test func interimAnswersAreSkipped() {
        let parsed = Self.parseEveryWay(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        )
        #expect(
            parsed
                == .complete(
                    status: 201, headers: ["Content-Length=2"], body: Self.bytes("ok"), reusable: true, leftover: 0))
    }

    @Test func answersWithoutABody() {
        #expect(
            Self.parseEveryWay("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
                == .complete(status: 204, headers: ["X-A=1"], body: [], reusable: true, leftover: 0))
        // 304 and HEAD: Content-Length describes a body that is not sent.
        #expect(
            Self.parseEveryWay("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
                == .complete(status: 304, headers: ["Content-Length=10"], body: [], reusable: true, leftover: 0))
        #expect(
            Self.parseEveryWay("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", head: true)
                == .complete(status: 200, headers: ["Content-Length=10"], body: [], reusable: true, leftover: 0))
        #expect(
            Self.parseEveryWay("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                == .complete(status: 200, headers: ["Content-Length=0"], body: [], reusable: true, leftover: 0))
    }

    @Test func aBodyUntilCloseEndsTheConnection() {
        let text = "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of it"
        #expect(
            Self.parseEveryWay(text)
                == .complete(
                    status: 200, headers: ["X-A=1"], body: Self.bytes("all of it"), reusable: false, leftover: 0))
        // Without the close it is not over.
        #expect(Self.parse(Self.bytes(text), eof: false) == .incomplete)
    }

    @Test func whatMakesAConnectionSingleUse() {
        let close = Self.parseEveryWay("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx")
        #expect(
            close
                == .complete(
                    status: 200, headers: ["Connection=keep-alive, Close", "Content-Length=1"], body: [120],
                    reusable: false, leftover: 0))
        let old = Self.parseEveryWay("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx")
        #expect(old == .complete(status: 200, headers: ["Content-Length=1"], body: [120], reusable: false, leftover: 0))
        // Bytes after the answer that nobody asked for: reported, so the connection is dropped.
        let extra = Self.parse(Self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n"))
        #expect(
            extra == .complete(status: 200, headers: ["Content-Length=1"], body: [120], reusable: true, leftover: 17))
    }

    @Test func lenientWhereReadingIsUnambiguous() {
        // Bare LF line ends, no reason phrase, repeated identical lengths, whitespace around
        // values, an empty value, and bytes above ASCII in a value.
        let parsed = Self.parseEveryWay(
            "HTTP/1.1 200\nContent-Length: 3, 3\nContent-Length:3\nX-Empty:\nX-Space: \t spaced \t\nX-Text: caf\u{e9}\n\nabc"
        )
        #expect(
            parsed
                == .complete(
                    status: 200,
                    headers: [
                        "Content-Length=3, 3", "Content-Length=3", "X-Empty=", "X-Space=spaced", "X-Text=caf\u{e9}",
                    ],
                    body: Self.bytes("abc"), reusable: true, leftover: 0))
    }

    // MARK: - Refused

    @Test(arguments: [
        ("HELLO THERE\r\n\r\n", "not an HTTP/1.x status line"),
        ("HTTP/2.0 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        ("HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.x status line"),
        ("HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
        ("HTTP/1.1  200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        ("http/1.1 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        ("HTTP/1.1 099 Low\r\n\r\n", "out of range"),
        ("HTTP/1.1 200 O\u{1}K\r\n\r\n", "not an HTTP/1.x status line"),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "101"),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "both Content-Length and Transfer-Encoding"
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            "both Content-Length and Transfer-Encoding"
        ),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", "unsupported Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "unsupported Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "unsupported Transfer-Encoding"),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "unsupported Transfer-Encoding"
        ),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", "unsupported Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", "conflicting Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "conflicting Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5,,5\r\n\r\nhello", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", "folded header line"),
        ("HTTP/1.1 200 OK\r\n\tX-A: 1\r\n\r\n", "folded header line"),
        ("HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "malformed header line"),
        ("HTTP/1.1 200 OK\r\n: no name\r\n\r\n", "malformed header line"),
        ("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed header line"),
        ("HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n", "malformed header line"),
        ("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "bare CR"),
        ("HTTP/1.1 200 OK\r\nX-A: 1\r\r\n\r\n", "bare CR"),
        ("HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\n\r\n", "malformed header line"),
        ("HTTP/1.1 200 OK\r\nX-A: a\u{7f}b\r\n\r\n", "malformed header line"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "malformed chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "malformed chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{1}\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", "chunk size too large"),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
            "chunk data longer than its size"
        ),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "malformed trailer field"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "connection closed before the response ended"),
        ("HTTP/1.1 200 OK\r\nContent-Len", "connection closed before the response ended"),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            "connection closed before the response ended"
        ),
        ("", "connection closed before any response"),
    ])
    func refused(_ text: String, reason: String) {
        let parsed = Self.parseEveryWay(text)
        #expect(parsed.failure?.contains(reason) == true, "\(text.debugDescription): \(parsed)")
    }

    @Test func aConnectionClosedAtOnceReceivedNothing() {
        var parser = ResponseParser(maxBodyBytes: 100)
        #expect(parser.endOfInput() == .failed("connection closed before any response"))
        #expect(!parser.receivedAny)
        var other = ResponseParser(maxBodyBytes: 100)
        _ = Self.bytes("H").withUnsafeBytes { other.feed($0) }
        #expect(other.receivedAny)
        #expect(other.endOfInput() == .failed("connection closed before the response ended"))
    }

    @Test func theHeaderCapCountsTheWholeHead() {
        let line = "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n"
        let small = "HTTP/1.1 200 OK\r\n" + String(repeating: line, count: 3) + "Content-Length: 0\r\n\r\n"
        guard case .complete = Self.parse(Self.bytes(small), maxHeader: 4096) else {
            Issue.record("a head under the cap is read")
            return
        }
        let big = "HTTP/1.1 200 OK\r\n" + String(repeating: line, count: 5) + "Content-Length: 0\r\n\r\n"
        let parsed = Self.parse(Self.bytes(big), splits: [100, 2000, 4000], maxHeader: 4096)
        #expect(parsed.failure?.contains("response header too large") == true, "\(parsed)")
        // One endless line (no LF ever) is caught as it grows, not after.
        let endless = Self.bytes("HTTP/1.1 200 OK\r\nX-A: " + String(repeating: "b", count: 10_000))
        var parser = ResponseParser(maxHeaderBytes: 4096, maxBodyBytes: 100)
        var outcome = ResponseParser.Outcome.needMore
        for chunk in stride(from: 0, to: endless.count, by: 512) {
            outcome = Array(endless[chunk..<min(endless.count, chunk + 512)]).withUnsafeBytes {
                parser.feed($0).outcome
            }
            if outcome != .needMore { break }
        }
        #expect(outcome == .failed("response header too large (over 4096 bytes)"))
    }

    /// A chunk-size line is bounded like a header line, however it arrives.
    @Test func chunkExtensionsAreBounded() {
        let text =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + String(repeating: "e", count: 600)
            + "\r\nhello\r\n0\r\n\r\n"
        let input = Self.bytes(text)
        let head = text.utf8.count - 620
        for splits in [
            [], [head], [head + 100, head + 300, head + 500], Array(stride(from: 0, to: input.count, by: 7)),
        ] {
            let parsed = Self.parse(input, splits: splits, maxHeader: 512)
            #expect(parsed == .failed("chunk size line too long"), "split at \(splits.prefix(4)): \(parsed)")
        }
        guard case .complete(_, _, let body, _, _) = Self.parse(input, splits: [head + 100], maxHeader: 1024) else {
            Issue.record("under the bound the extension is read past")
            return
        }
        #expect(body == Self.bytes("hello"))
    }

    @Test func theBodyCapHoldsForEveryFraming() {
        let cases = [
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\nhello world",
        ]
        for text in cases {
            var parser = ResponseParser(maxBodyBytes: 10)
            var outcome = Self.bytes(text).withUnsafeBytes { parser.feed($0).outcome }
            if outcome == .needMore { outcome = parser.endOfInput() }
            #expect(outcome == .failed("response larger than 10 bytes"), "\(text.debugDescription)")
            #expect(parser.tooLarge)
            #expect(!parser.reusable)
            // Exactly at the cap is fine.
            guard case .complete(_, _, let body, _, _) = Self.parse(Self.bytes(text), maxBody: 11) else {
                Issue.record("\(text.debugDescription) at the cap")
                continue
            }
            #expect(body == Self.bytes("hello world"))
        }
    }

    // MARK: - Hostile input, at random

    /// Mutations of valid answers (bytes flipped, CR/LF/NUL/space/colon inserted, cut short,
    /// parts doubled): the parser never traps, answers the same however the bytes are split, and
    /// whatever it completes has token names and values without CR, LF or NUL.
    @Test func mutatedAnswersAreReadTheSameWayHoweverTheyArrive() {
        let seeds = [
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}",
            "HTTP/1.0 200 OK\r\n\r\nuntil close",
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        ].map(Self.bytes)
        let specials: [UInt8] = [0, 9, 10, 13, 32, 44, 58, 59, 127, 0xff, 48, 57, 97]
        var random = SeededGenerator(seed: 0x5eed_1e55)
        for round in 0..<3000 {
            var input = seeds[round % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0...input.count, using: &random)
                switch Int.random(in: 0..<5, using: &random) {
                case 0 where at < input.count: input[at] = UInt8.random(in: 0...255, using: &random)
                case 1: input.insert(specials.randomElement(using: &random)!, at: at)
                case 2: input.removeSubrange(at...)
                case 3 where at < input.count: input.remove(at: at)
                default: input.insert(contentsOf: input[at...].prefix(8), at: at)
                }
            }
            let whole = Self.parse(input, maxBody: 64, maxHeader: 256)
            var cuts: [Int] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                cuts.append(Int.random(in: 0...input.count, using: &random))
            }
            let split = Self.parse(input, splits: cuts, maxBody: 64, maxHeader: 256)
            #expect(whole == split, "round \(round): \(input) whole \(whole) split at \(cuts.sorted()) \(split)")
            if case .complete(_, let headers, _, _, _) = whole {
                for field in headers {
                    let name = field.prefix { $0 != "=" }
                    #expect(!name.isEmpty && name.utf8.allSatisfy(ResponseParser.isTokenByte), "\(field)")
                    #expect(!field.utf8.contains { $0 == 0 || $0 == 10 || $0 == 13 }, "\(field)")
                }
            }
        }
    }
}
