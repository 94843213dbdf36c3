import Policy

/// A header list that keeps order and repeats, as HTTP does. Names compare case-insensitively.
public struct HeaderList: Sendable, Equatable, Sequence {
    public var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    public static func == (a: HeaderList, b: HeaderList) -> Bool {
        a.fields.count == b.fields.count
            && zip(a.fields, b.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// The first value of `name`, compared case-insensitively.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    public mutating func append(_ name: String, _ value: String) { fields.append((name, value)) }

    public mutating func remove(_ name: String) { fields.removeAll { $0.name.caseInsensitiveEquals(name) } }

    /// Replaces every `name` field with one field holding `value`.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        fields.append((name, value))
    }
}

extension String {
    /// ASCII lowercase (header names are ASCII tokens): cheaper than the Unicode-aware
    /// `lowercased()`, and the same for every byte below 0x80.
    @inlinable public var asciiLowercased: String {
        guard utf8.contains(where: { $0 >= 65 && $0 <= 90 }) else { return self }
        return mappingASCIIBytes { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }
    }

    /// ASCII case-insensitive equality, as header names need (no locale, no allocation).
    @inlinable public func caseInsensitiveEquals(_ other: String) -> Bool {
        // Header names are compared for every header of every request: on contiguous UTF-8 this is
        // a plain byte loop (zip over two UTF8Views showed in profiles).
        let fast = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in Self.asciiCaseInsensitiveEqual(a, b) }
        }
        if let fast, let result = fast { return result }
        return Self.asciiCaseInsensitiveEqual(Array(utf8), Array(other.utf8))
    }

    /// ASCII case-insensitive `hasPrefix` (for header-name families such as `Proxy-*`).
    @inlinable public func hasCaseInsensitivePrefix(_ prefix: String) -> Bool {
        let fast = utf8.withContiguousStorageIfAvailable { a in
            prefix.utf8.withContiguousStorageIfAvailable { b in
                a.count >= b.count && Self.asciiCaseInsensitiveEqual(UnsafeBufferPointer(rebasing: a[..<b.count]), b)
            }
        }
        if let fast, let result = fast { return result }
        let count = prefix.utf8.count
        return utf8.count >= count && Self.asciiCaseInsensitiveEqual(Array(utf8.prefix(count)), Array(prefix.utf8))
    }

    @inlinable static func asciiCaseInsensitiveEqual<C: RandomAccessCollection<UInt8>>(_ a: C, _ b: C) -> Bool
    where C.Index == Int {
        guard a.count == b.count else { return false }
        var i = a.startIndex
        var j = b.startIndex
        while i < a.endIndex {
            let x = a[i]
            let y = b[j]
            if x != y {
                let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
                let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
                if lx != ly { return false }
            }
            i += 1
            j += 1
        }
        return true
    }
}

/// A request as it is sent to Astro: absolute URL, final headers (token already injected).
public struct UpstreamRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: HeaderList
    public var body: [UInt8]
    /// Total time allowed for this transfer, in seconds.
    public var timeoutSeconds: Double

    public init(method: String, url: String, headers: HeaderList, body: [UInt8], timeoutSeconds: Double) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
    }
}

/// A response as Astro sent it (hop-by-hop headers already removed by the transport).
public struct UpstreamResponse: Sendable {
    public var status: Int
    public var headers: HeaderList
    public var body: [UInt8]

    public init(status: Int, headers: HeaderList, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// Why an upstream exchange produced no response. Maps to 502 / 504 at the gateway edge.
public enum TransportError: Error, Sendable, Equatable {
    /// Could not connect, DNS failed, TLS failed, and not one byte of the request was sent: the
    /// request did not reach Astro.
    case unreachable(String)
    /// Connected, but no complete answer in time: the request may have reached Astro.
    case timeout(String)
    /// The request was (at least partly) sent, but the answer was malformed, truncated, reset or
    /// over the size cap: Astro may have acted on it.
    case badResponse(String)
    /// The caller gave up (client left, shutdown) before the exchange finished.
    case cancelled

    /// True only when Astro provably cannot have seen the request (nothing was sent), so even a
    /// write may be retried.
    public var requestNeverSent: Bool {
        if case .unreachable = self { return true }
        return false
    }
}

/// Anything that can carry one request to Astro and bring back its response.
/// The libcurl transport implements it; tests use purpose-built ones.
public protocol UpstreamSending: Sendable {
    func send(_ request: UpstreamRequest) async throws(TransportError) -> UpstreamResponse

    /// The same exchange without a Swift task: `completion` runs exactly once, on whatever thread
    /// finishes the exchange (keep it short). Cancelling `cancellation` abandons the exchange
    /// (the completion then gets `.cancelled`).
    func start(
        _ request: UpstreamRequest, cancellation: Cancellation,
        completion: @escaping @Sendable (Result<UpstreamResponse, TransportError>) -> Void)
}

extension UpstreamSending {
    /// For transports that only have the async form (tests): a task per exchange.
    public func start(
        _ request: UpstreamRequest, cancellation: Cancellation,
        completion: @escaping @Sendable (Result<UpstreamResponse, TransportError>) -> Void
    ) {
        let task = Task {
            do throws(TransportError) {
                completion(.success(try await send(request)))
            } catch {
                completion(.failure(error))
            }
        }
        cancellation.onCancel { task.cancel() }
    }
}

/// Headers that describe one connection, not the message: never forwarded in either direction.
public enum HopByHop {
    public static let names: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization", "proxy-connection",
    ]

    public static func contains(_ name: String) -> Bool {
        // Checked for every header of every message: compare without allocating a lowercased copy.
        let utf8 = name.utf8
        guard let first = utf8.first else { return false }
        switch first | 0x20 {
        case UInt8(ascii: "c"): return name.caseInsensitiveEquals("connection")
        case UInt8(ascii: "k"): return name.caseInsensitiveEquals("keep-alive")
        case UInt8(ascii: "t"):
            return name.caseInsensitiveEquals("te") || name.caseInsensitiveEquals("trailer")
                || name.caseInsensitiveEquals("transfer-encoding")
        case UInt8(ascii: "u"): return name.caseInsensitiveEquals("upgrade")
        case UInt8(ascii: "p"):
            return name.hasCaseInsensitivePrefix("proxy-")
        default: return false
        }
    }
}
