import Foundation
import Logging
import Synchronization

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
        var merged = metadata
        if let explicit { merged.merge(explicit) { $1 } }
        for key in merged.keys.sorted() where !["level", "ts", "label", "message"].contains(key) {
            field(key, LogRedaction.value(for: key, merged[key]!.description))
        }
        out += [UInt8(ascii: "}"), 10]
        sink.emit(out)
    }
}

/// Keeps secrets out of logs whatever a caller passes: values of secret-looking metadata keys are
/// replaced, and local keys or bearer credentials inside any text are masked.
public enum LogRedaction {
    static let secretKeyWords = ["token", "secret", "authorization", "password", "credential", "hmac"]

    public static func value(for key: String, _ value: String) -> String {
        let lower = key.lowercased()
        if lower != "tokenid" && lower != "keyid" && lower != "keyname"
            && secretKeyWords.contains(where: { lower.contains($0) })
        {
            return "[redacted]"
        }
        return scrub(value)
    }

    /// Masks `agw_<id>_<secret>` (keeps the id) and anything after `Bearer `.
    public static func scrub(_ text: String) -> String {
        guard text.contains("agw_") || text.range(of: "bearer", options: .caseInsensitive) != nil else { return text }
        var result = text
        if let regex = try? NSRegularExpression(pattern: "(agw_[A-Za-z0-9]+_)[A-Za-z0-9]+") {
            result = regex.stringByReplacingMatches(
                in: result, range: NSRange(result.startIndex..., in: result), withTemplate: "$1[redacted]")
        }
        if let regex = try? NSRegularExpression(pattern: "([Bb][Ee][Aa][Rr][Ee][Rr]\\s+)\\S+") {
            result = regex.stringByReplacingMatches(
                in: result, range: NSRange(result.startIndex..., in: result), withTemplate: "$1[redacted]")
        }
        return result
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
