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
    let responder: @Sendable (ServerRequest) async -> ServerResponse

    init(responder: @escaping @Sendable (ServerRequest) async -> ServerResponse) { self.responder = responder }

    func respond(to request: ServerRequest) async -> ServerResponse {
        log.withLock {
            $0.append(
                ReceivedRequest(
                    method: request.method, target: request.rawTarget, headers: request.headers, body: request.body))
        }
        return await responder(request)
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

    func stop() { server.stop(timeoutSeconds: 1) }
}
