import CHiredis
import Dispatch
import Foundation
import Synchronization

/// Settings of the connection to the cluster's Redis.
public struct RedisOptions: Sendable, Equatable {
    public var endpoint: RedisEndpoint
    /// Sent with AUTH after each connect; never logged or put in an error message.
    public var password: String?
    public var connectTimeoutSeconds: Double
    /// A command that takes longer counts as Redis being unavailable (the limiter falls back).
    public var commandTimeoutSeconds: Double
    /// After a failed connect, commands fail at once for this long instead of each waiting for
    /// its own connect timeout.
    public var reconnectBackoffSeconds: Double

    public init(
        endpoint: RedisEndpoint, password: String? = nil, connectTimeoutSeconds: Double = 0.2,
        commandTimeoutSeconds: Double = 0.2, reconnectBackoffSeconds: Double = 0.25
    ) {
        self.endpoint = endpoint
        self.password = password
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.commandTimeoutSeconds = commandTimeoutSeconds
        self.reconnectBackoffSeconds = reconnectBackoffSeconds
    }
}

/// The C edge to Redis: one hiredis connection owned by one dedicated thread, which runs
/// submitted commands in order with blocking calls (bounded by the command timeout) and hands
/// each reply to its completion. Slot grants are a few per second per token class, so one
/// connection and one round trip per command is plenty, and a blocking client on its own thread
/// keeps the cooperative pool free.
///
/// A broken connection is dropped and reopened by the next command; while connecting fails,
/// commands fail fast (`reconnectBackoffSeconds`) so callers fall back instead of queueing.
public final class RedisClient: Sendable {
    public typealias Completion = @Sendable (Result<RedisReply, RedisUnavailable>) -> Void

    struct Job: Sendable {
        let arguments: [[UInt8]]
        let completion: Completion
    }

    struct Inbox {
        var jobs: [Job] = []
        var closed = false
    }

    public let options: RedisOptions
    private let inbox = Mutex(Inbox())
    private let wakeup = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    public init(options: RedisOptions) {
        self.options = options
        let thread = Thread { [self] in self.run() }
        thread.name = "agw-redis"
        thread.start()
    }

    /// Runs one command (`["EVALSHA", sha, "1", key, ...]`). A Redis error reply is a `.error`
    /// reply, not a failure; failures mean Redis could not answer.
    public func command(_ arguments: [String]) async -> Result<RedisReply, RedisUnavailable> {
        await withCheckedContinuation { continuation in
            submit(arguments.map { Array($0.utf8) }) { continuation.resume(returning: $0) }
        }
    }

    public func submit(_ arguments: [[UInt8]], completion: @escaping Completion) {
        let accepted = inbox.withLock { inbox -> Bool in
            if inbox.closed { return false }
            inbox.jobs.append(Job(arguments: arguments, completion: completion))
            return true
        }
        if accepted {
            wakeup.signal()
        } else {
            completion(.failure(RedisUnavailable("the client is closed")))
        }
    }

    /// Fails queued commands, closes the connection and ends the thread.
    public func close() {
        let first = inbox.withLock { inbox -> Bool in
            defer { inbox.closed = true }
            return !inbox.closed
        }
        guard first else { return }
        wakeup.signal()
        _ = stopped.wait(timeout: .now() + 2)
    }

    // MARK: - The Redis thread (the only place the hiredis context lives)

    private func run() {
        var context: UnsafeMutablePointer<redisContext>?
        var connectFailedAt: Double = -.infinity
        defer {
            if let context { redisFree(context) }
            stopped.signal()
        }
        while true {
            wakeup.wait()
            let (jobs, closed) = inbox.withLock { inbox in
                defer { inbox.jobs = [] }
                return (inbox.jobs, inbox.closed)
            }
            for job in jobs {
                if closed {
                    job.completion(.failure(RedisUnavailable("the client is closed")))
                    continue
                }
                if context == nil {
                    let now = MonotonicClock.now()
                    if now - connectFailedAt < options.reconnectBackoffSeconds {
                        job.completion(.failure(RedisUnavailable("not connected (retrying shortly)")))
                        continue
                    }
                    switch Self.connect(options) {
                    case .success(let made): context = made
                    case .failure(let error):
                        connectFailedAt = now
                        job.completion(.failure(error))
                        continue
                    }
                }
                let result = Self.execute(context!, job.arguments)
                if case .failure = result {
                    // The connection is in an unknown state (timeout, reset): start afresh.
                    redisFree(context!)
                    context = nil
                }
                job.completion(result)
            }
            if closed { return }
        }
    }

    private static func timeval(_ seconds: Double) -> Glibc.timeval {
        let whole = Int(seconds)
        return Glibc.timeval(tv_sec: whole, tv_usec: Int((seconds - Double(whole)) * 1e6))
    }

    private static func connect(_ options: RedisOptions) -> Result<UnsafeMutablePointer<redisContext>, RedisUnavailable>
    {
        let endpoint = options.endpoint
        guard
            let context = redisConnectWithTimeout(
                endpoint.host, Int32(endpoint.port), timeval(options.connectTimeoutSeconds))
        else { return .failure(RedisUnavailable("cannot allocate a connection")) }
        if context.pointee.err != 0 {
            let message = errorText(context)
            redisFree(context)
            return .failure(RedisUnavailable("connect to \(endpoint.host):\(endpoint.port): \(message)"))
        }
        _ = redisSetTimeout(context, timeval(options.commandTimeoutSeconds))
        var setup: [[[UInt8]]] = []
        if let password = options.password { setup.append([Array("AUTH".utf8), Array(password.utf8)]) }
        if endpoint.database != 0 { setup.append([Array("SELECT".utf8), Array(String(endpoint.database).utf8)]) }
        for (index, arguments) in setup.enumerated() {
            switch execute(context, arguments) {
            case .success(.error(let message)):
                redisFree(context)
                // The AUTH reply names no secret, but say which step failed, not what was sent.
                let step = options.password != nil && index == 0 ? "AUTH" : "SELECT"
                return .failure(RedisUnavailable("\(step) refused: \(message)"))
            case .failure(let error):
                redisFree(context)
                return .failure(error)
            case .success: continue
            }
        }
        return .success(context)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func execute(
        _ context: UnsafeMutablePointer<redisContext>, _ arguments: [[UInt8]]
    ) -> Result<RedisReply, RedisUnavailable> {
        // One buffer for all arguments; hiredis copies them into its output buffer.
        let joined = arguments.flatMap { $0 }
        let lengths = arguments.map { $0.count }
        // Arguments are never empty here (a command name comes first), but a zero-length
        // argument still needs a valid pointer: one spare byte keeps the buffer non-empty.
        let raw: UnsafeMutableRawPointer? = (joined + [0]).withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append(base + offset)
                offset += length
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                }
            }
        }
        guard let raw else {
            return .failure(RedisUnavailable(context.pointee.err != 0 ? errorText(context) : "no reply"))
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return .success(copy(reply))
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(r.len)))
        }
        switch r.type {
        case REDIS_REPLY_STRING: return .string(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            for i in 0..<Int(r.elements) {
                if let element = r.element?[i] { items.append(copy(element)) } else { items.append(.null) }
            }
            return .array(items)
        default: return .null
        }
    }
}
