import Foundation
import Gateway
import Synchronization
import Upstream

/// What a recording upstream saw.
struct ReceivedRequest: Sendable {
    let method: String
    let target: String
    let headers: HeaderList
    let body: [UInt8]
}

/// Records every request and answers with whatever the test scripts.
final class RecordingHandler: HTTPHandler {
    let log = Mutex<[ReceivedRequest]>([])
    /// Requests being answered right now, and the most seen at once.
    let concurrency = Mutex<(now: Int, max: Int)>((0, 0))
    let responder: @Sendable (ServerRequest) async -> ServerResponse

    init(responder: @escaping @Sendable (ServerRequest) async -> ServerResponse) { self.responder = responder }

    func respond(to request: ServerRequest) async -> ServerResponse {
        log.withLock {
            $0.append(
                ReceivedRequest(
                    method: request.method, target: request.rawTarget, headers: request.headers, body: request.body))
        }
        concurrency.withLock {
            $0.now += 1
            $0.max = max($0.max, $0.now)
        }
        let response = await responder(request)
        concurrency.withLock { $0.now -= 1 }
        return response
    }
}

/// A purpose-built upstream on a real loopback socket that records exactly what it received.
/// Used to prove header stripping, token injection, version pinning, query preservation and
/// body passthrough.
final class RecordingUpstream: Sendable {
    let handler: RecordingHandler
    let server: HTTPServer

    init(
        responder: @escaping @Sendable (ServerRequest) async -> ServerResponse = { _ in
            ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]), body: Array("{}".utf8))
        }
    ) throws {
        handler = RecordingHandler(responder: responder)
        server = HTTPServer(options: ServerOptions(port: 0, threads: 1, maxBodyBytes: 64 << 20), handler: handler)
        try server.start()
    }

    var port: Int { server.port }
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    var received: [ReceivedRequest] { handler.log.withLock { $0 } }
    var maxConcurrent: Int { handler.concurrency.withLock { $0.max } }

    func stop() { server.stop(timeoutSeconds: 1) }
}
