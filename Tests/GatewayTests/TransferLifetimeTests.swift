import Foundation
import Testing
import Upstream

@testable import Gateway

/// Reads are forwarded with completions that hold each other (a request's `Cancellation` holds
/// its transfer, the transfer's completion holds the cancellation): whatever happens to the
/// requests, every transfer must be released once traffic stops.
@Suite(.serialized) struct TransferLifetimeTests {
    @Test func everyTransferIsReleasedWhateverTheRequestsFate() async throws {
        let upstream = try RecordingUpstream { request in
            try? await Task.sleep(for: .milliseconds(request.rawTarget.contains("slow") ? 400 : 50))
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]), body: Array("{}".utf8))
        }
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let baseline = CurlTransport.transfersAlive
        let port = gateway.port
        let auth = gateway.auth
        // Clients on their own threads (blocking sockets must not occupy the task pool the
        // gateway's own tasks need).
        var jobs: [@Sendable () -> Void] = []
        // Coalesced: one leader call, followers share it.
        for _ in 0..<40 {
            jobs.append { _ = try? rawRequest(port: port, target: "/v1/organizations/o1/deployments", headers: [auth]) }
        }
        // Distinct reads, each its own call.
        for i in 0..<20 {
            jobs.append {
                _ = try? rawRequest(port: port, target: "/v1/organizations/o\(i)/workspaces", headers: [auth])
            }
        }
        // Writes (the task path).
        for i in 0..<5 {
            jobs.append {
                _ = try? rawRequest(
                    port: port, method: "POST", target: "/v1/organizations/o\(i)/workspaces", headers: [auth],
                    body: Array(#"{"name":"w"}"#.utf8))
            }
        }
        // Clients that leave while their read is upstream (a coalesced leader among them).
        for i in 0..<6 {
            jobs.append {
                guard let connection = try? RawHTTPConnection(port: port) else { return }
                let target = i < 3 ? "/v1/organizations/slow\(i)/clusters" : "/v1/organizations/slowshared/clusters"
                connection.write("GET \(target) HTTP/1.1\r\nHost: x\r\nAuthorization: \(auth.1)\r\n\r\n")
                usleep(100_000)
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for job in jobs {
                group.addTask {
                    await withCheckedContinuation { c in
                        Thread.detachNewThread {
                            job(); c.resume()
                        }
                    }
                }
            }
        }
        // The left requests' calls finish upstream (400 ms) and the watcher notices within 100 ms.
        var alive = CurlTransport.transfersAlive
        for _ in 0..<60 where alive > baseline {
            try await Task.sleep(for: .milliseconds(50))
            alive = CurlTransport.transfersAlive
        }
        #expect(alive == baseline, "transfers still alive after the traffic stopped: \(alive - baseline)")
        #expect(upstream.received.count >= 20 + 5 + 1, "the traffic reached the upstream")
    }
}
