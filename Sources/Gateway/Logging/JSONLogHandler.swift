import Foundation
import Logging
import Synchronization
import Upstream

/// Where log lines go: stderr in production, a buffer in tests. Each line is written whole.
public final class LogSink: Sendable {
    private let write: @Sendable ([UInt8]) -> Void
    private let lock = Mutex(())

    public init(write: @escaping @Sendable ([UInt8]) -> Void) { self.write = write }

    public static let standardError = LogSink { bytes in
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    func emit(_ line: [UInt8]) { lock.withLock { _ in write(line) } }
}

/// A swift-log handler that writes one JSON object per line: `level`, `ts` (RFC 3339 UTC with
/// milliseconds), `label`, `message`, then the metadata flattened (gatewayRequestId, keyName,
/// operationId, status, durationMs, …). Everything passes `LogRedaction` first.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let sink: LogSink

    public init(label: String, level: Logger.Level = .info, sink: LogSink = .standardError) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        let message = event.message
        let explicit = event.metadata
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func field(_ name: String, _ value: String) {
            out.append(out.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONText.appendQuoted(name, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendQuoted(value, to: &out)
        }
        field("level", level.rawValue)
        field("ts", AuditRecord.timestamp(Date()))
        field("label", label)
        field("message", LogRedaction.scrub(message.description))
        // The handler's own metadata is usually empty: no merge (and no copy) then.
        let merged = metadata.isEmpty ? explicit ?? [:] : metadata.merging(explicit ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "level", "ts", "label", "message": continue
            default: field(key, LogRedaction.value(for: key, value.description))
            }
        }
        out += [UInt8(ascii: "}"), 10]
        sink.emit(out)
    }
}

/// Keeps secrets out of logs whatever a caller passes: values of secret-looking metadata keys are
/// replaced, and local keys or bearer credentials inside any text are masked.
///
/// A hand-written scanner, not regular expressions: it runs on every value of every log line
/// (denials are logged at `notice`), and `NSRegularExpression` / case-insensitive `range(of:)`
/// made logging the bottleneck of the denied-request benchmark. Same rules as the patterns
/// `(agw_[A-Za-z0-9]+_)[A-Za-z0-9]+` and `([Bb][Ee][Aa][Rr][Ee][Rr]\s+)\S+`, applied in that order.
public enum LogRedaction {
    static let secretKeyWords = ["token", "secret", "authorization", "password", "credential", "hmac"]

    public static func value(for key: String, _ value: String) -> String {
        switch key {
        // The metadata the gateway itself logs for every request: never secret-named.
        case "gatewayRequestId", "method", "status", "decision", "durationMs", "keyName", "operationId", "rule",
            "upstreamRequestId", "tokenId", "keyId", "note":
            return scrub(value)
        default: break
        }
        let lower = key.asciiLowercased
        if lower != "tokenid" && lower != "keyid" && lower != "keyname"
            && secretKeyWords.contains(where: { lower.contains($0) })
        {
            return "[redacted]"
        }
        return scrub(value)
    }

    /// Masks `agw_<id>_<secret>` (keeps the id) and anything after `Bearer `.
    public static func scrub(_ text: String) -> String {
        guard mayHoldSecret(text) else { return text }
        return maskBearer(maskLocalKeys(Array(text.unicodeScalars)))
    }

    /// Cheap pre-check on bytes: "agw_" or a case-insensitive "bearer" somewhere (a false
    /// positive only costs the full scan).
    static func mayHoldSecret(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { b in
            func lower(_ i: Int) -> UInt8 { b[i] | 0x20 }
            for i in b.indices {
                if b[i] == 0x61 && i + 4 <= b.count && b[i + 1] == 0x67 && b[i + 2] == 0x77 && b[i + 3] == 0x5F {
                    return true
                }
                if lower(i) == 0x62 && i + 6 <= b.count && lower(i + 1) == 0x65 && lower(i + 2) == 0x61
                    && lower(i + 3) == 0x72 && lower(i + 4) == 0x65 && lower(i + 5) == 0x72
                {
                    return true
                }
            }
            return false
        }
    }

    static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        default: false
        }
    }

    /// ICU's `\s`: tab, line feed, vertical tab, form feed, carriage return, and Unicode spaces.
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x20: return true
        case 0..<0x80: return false
        default:
            switch s.properties.generalCategory {
            case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
    }

    static func maskLocalKeys(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let prefix: [Unicode.Scalar] = ["a", "g", "w", "_"]
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var i = 0
        while i < scalars.count {
            if scalars[i...].starts(with: prefix) {
                var j = i + 4
                while j < scalars.count && isAlphanumeric(scalars[j]) { j += 1 }
                if j > i + 4 && j < scalars.count && scalars[j] == "_" {
                    var k = j + 1
                    while k < scalars.count && isAlphanumeric(scalars[k]) { k += 1 }
                    if k > j + 1 {
                        out += scalars[i...j]
                        out += "[redacted]".unicodeScalars
                        i = k
                        continue
                    }
                }
            }
            out.append(scalars[i])
            i += 1
        }
        return out
    }

    static func maskBearer(_ scalars: [Unicode.Scalar]) -> String {
        let word = Array("bearer".unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if i + 6 <= scalars.count
                && (0..<6).allSatisfy({ k in
                    let v = scalars[i + k].value
                    return (v >= 65 && v <= 90 ? v | 0x20 : v) == word[k].value
                })
            {
                var j = i + 6
                while j < scalars.count && isSpace(scalars[j]) { j += 1 }
                var k = j
                while k < scalars.count && !isSpace(scalars[k]) { k += 1 }
                if j > i + 6 && k > j {
                    out.append(contentsOf: scalars[i..<j])
                    out.append(contentsOf: "[redacted]".unicodeScalars)
                    i = k
                    continue
                }
            }
            out.append(scalars[i])
            i += 1
        }
        return String(out)
    }
}

/// Process-wide logging set-up: JSON lines on stderr, level from `logging.level` or the
/// `AGW_LOG_LEVEL` environment variable (which wins).
public enum GatewayLogging {
    private static let bootstrapped = Atomic<Bool>(false)

    public static func bootstrap(level: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let chosen = Logger.Level(rawValue: environment["AGW_LOG_LEVEL"] ?? level) ?? .info
        guard bootstrapped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: chosen) }
    }
}
