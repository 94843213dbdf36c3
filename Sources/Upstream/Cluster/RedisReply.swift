/// One Redis reply (RESP2), copied out of hiredis so it outlives the C object.
public indirect enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int)
    case array([RedisReply])
    case null
    /// An error reply from Redis (a script error, NOSCRIPT, WRONGTYPE...), not a transport failure.
    case error(String)

    public var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let s): s
        default: nil
        }
    }

    public var integer: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }

    public var array: [RedisReply]? {
        if case .array(let items) = self { return items }
        return nil
    }
}

/// Redis could not be asked: not connected, refused, timed out, or the connection broke. The
/// message never holds the password.
public struct RedisUnavailable: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "Redis unavailable: \(message)" }
}
