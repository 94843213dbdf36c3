import Foundation
import Testing
import Upstream

@testable import Gateway

/// Reads are forwarded with completions that hold each other (a request's `Cancellation` holds
/// its transfer, the transfer's completion holds the cancellation): whatever happens to the
/// requests, every transfer must be released once traffic stops.
@Suite(.serialized, .offThePool) struct TransferLifetimeTests {
    @Test func everyTransferIsReleasedWhateverTheRequestsFate() async throws {
        let upstream = try RecordingUpstream { request in
            try? await Task.sleep(for: .milliseconds(request.rawTarget.contains("slow") ? 400 : 50))
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]), body: Array("{}".utf8))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        // Counted per transport: this gateway's transfers only.
        let transport = try #require(gateway.instance.runtime.transport as? CurlTransport)
        let baseline = transport.transfersAlive
        let port = gateway.port
        let auth = gateway.auth
        let finished: [Bool] = await concurrently(71) { i -> Bool in
            switch i {
            case 0..<40:  // coalesced: one leader call, followers share it
                _ = try? rawRequest(port: port, target: "/v1/organizations/o1/deployments", headers: [auth])
            case 40..<60:  // distinct reads, each its own call
                _ = try? rawRequest(port: port, target: "/v1/organizations/o\(i)/workspaces", headers: [auth])
            case 60..<65:  // writes (the task path)
                _ = try? rawRequest(
                    port: port, method: "POST", target: "/v1/organizations/o\(i)/workspaces", headers: [auth],
                    body: Array(#"{"name":"w"}"#.utf8))
            default:  // clients that leave while their read is upstream (a coalesced leader among them)
                guard let connection = try? RawHTTPConnection(port: port) else { return true }
                let target = i < 68 ? "/v1/organizations/slow\(i)/clusters" : "/v1/organizations/slowshared/clusters"
                connection.write("GET \(target) HTTP/1.1\r\nHost: x\r\nAuthorization: \(auth.1)\r\n\r\n")
                usleep(100_000)
            }
            return true
        }
        #expect(finished.count == 71)
        // The left requests' calls finish upstream (400 ms) and the watcher notices within 100 ms.
        var alive = transport.transfersAlive
        for _ in 0..<60 where alive > baseline {
            try await Task.sleep(for: .milliseconds(50))
            alive = transport.transfersAlive
        }
        #expect(alive == baseline, "transfers still alive after the traffic stopped: \(alive - baseline)")
        #expect(upstream.received.count >= 20 + 5 + 1, "the traffic reached the upstream")
    }
}
