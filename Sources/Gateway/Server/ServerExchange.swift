import Foundation
import Upstream

/// A request as the server adapter received it: the raw request target (not libmicrohttpd's
/// decoded `url`), every header field in order, and the whole body (up to the configured cap).
public struct ServerRequest: Sendable {
    public var method: String
    /// The request target exactly as sent on the request line, query included.
    public var rawTarget: String
    public var headers: HeaderList
    public var body: [UInt8]
    /// True when the body exceeded `maxBodyBytes`; the body was read and discarded.
    public var bodyTooLarge: Bool
    /// Bytes of body the client sent (also when it was too large and discarded).
    public var bodyBytesReceived: Int
    public var clientAddress: String
    /// Monotonic time the request line arrived, in seconds.
    public var receivedAt: Double

    public init(
        method: String, rawTarget: String, headers: HeaderList = HeaderList(), body: [UInt8] = [],
        bodyTooLarge: Bool = false, bodyBytesReceived: Int? = nil, clientAddress: String = "127.0.0.1",
        receivedAt: Double = MonotonicClock.now()
    ) {
        self.method = method
        self.rawTarget = rawTarget
        self.headers = headers
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.bodyBytesReceived = bodyBytesReceived ?? body.count
        self.clientAddress = clientAddress
        self.receivedAt = receivedAt
    }
}

public struct ServerResponse: Sendable {
    public var status: Int
    public var headers: HeaderList
    public var body: [UInt8]
    /// Runs once on the server thread after the response is handed to libmicrohttpd (or when the
    /// connection ends without it): bookkeeping (metrics, the request log line) that must not
    /// hold up the thread that produced the answer (the audit writer's, for task-free requests).
    public var afterQueued: (@Sendable () -> Void)?

    public init(status: Int, headers: HeaderList = HeaderList(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What a handler decides on the server thread before anything is suspended.
public enum ImmediateAnswer: Sendable {
    /// Answer now, on the server thread: no task, no suspend/resume (refusals).
    case respond(ServerResponse)
    /// Go on asynchronously; `prepared` is handed to `respond(to:prepared:)`.
    case proceed(prepared: (any Sendable)?)
    /// Answer later without a Swift task: the server suspends the connection and calls `start`
    /// with a `reply` function; calling `reply` (once, from any thread) answers and resumes.
    /// `cancellation` fires when the client is seen to leave or the server stops: whatever the
    /// handler started registers there how to stop it (it must still call `reply`).
    case later(
        start: @Sendable (_ reply: @escaping @Sendable (ServerResponse) -> Void, _ cancellation: Cancellation) -> Void
    )
}

/// What the server adapter calls for every complete request. `answerImmediately` runs on the
/// server thread and must not block for long; `respond(to:prepared:)` runs in a Swift task while
/// the connection is suspended (the task is cancelled when the client is seen to leave).
public protocol HTTPHandler: Sendable {
    func respond(to request: ServerRequest) async -> ServerResponse
    func answerImmediately(_ request: ServerRequest) -> ImmediateAnswer
    func respond(to request: ServerRequest, prepared: (any Sendable)?) async -> ServerResponse
}

extension HTTPHandler {
    public func answerImmediately(_ request: ServerRequest) -> ImmediateAnswer { .proceed(prepared: nil) }

    public func respond(to request: ServerRequest, prepared: (any Sendable)?) async -> ServerResponse {
        await respond(to: request)
    }
}
