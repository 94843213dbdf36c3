import Foundation
import Testing

/// A real `serve` under a small open-file limit, flooded with idle clients: it keeps descriptors
/// for its upstream connections and audit log (clients that would eat into them are closed at
/// once), so the clients it did take are still answered from Astro, it says why it closes the
/// others, it does not crash, and it serves new clients once the flood leaves.
@Suite(.serialized, .offThePool) struct DescriptorExhaustionTests {
    static let policies = """
        policies:
          reader:
            allow:
              - methods: [GET]
        """

    @Test(.timeLimit(.minutes(2))) func underAFloodOfClientsTheReserveKeepsTheTakenOnesServed() async throws {
        let directory = try ServeProcess.makeDirectory(
            upstreamYAML: "simulate: true, pools: { default: { tokens: [ { id: org-main, env: TEST_ORG_TOKEN } ], "
                + "limits: { GET: 10000, POST: 10000, DELETE: 10000 } } }")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.policies.write(toFile: directory + "/policies.yaml", atomically: true, encoding: .utf8)
        let environment = ServeProcess.environment()
        let key = try await CLI(directory: directory, environment: environment).createKey(
            name: "flood", policy: "reader")
        // 256 descriptors; the reserve (upstream.maxConnectionsPerHost 8 + 128) is more than half,
        // so clients get descriptors below 128 and the rest stay for upstream and audit.
        let serve = try ServeProcess(directory: directory, run: 0, environment: environment, openFileLimit: 256)
        defer { serve.killNow() }
        try await serve.waitUntilReady()
        let port = serve.port
        let adminPort = serve.adminPort

        // More clients than the gateway may take, all connected before any sends a request.
        let flood = 300
        let outcomes: [String] = await blocking {
            var clients: [RawHTTPConnection] = []
            for _ in 0..<flood {
                guard let client = try? RawHTTPConnection(port: port, timeoutSeconds: 5) else { break }
                clients.append(client)
            }
            guard clients.count == flood else { return ["only \(clients.count) connected"] }
            // Every client asks once (all asking before any answer is read, so the waits
            // overlap). Taken ones must be answered from the (simulated) Astro; the others
            // closed. A 5xx would mean the gateway took a client it could not serve.
            for (index, client) in clients.enumerated() {
                client.write(
                    "GET /v1/organizations/clorg1/workspaces?n=\(index) HTTP/1.1\r\nHost: x\r\n"
                        + "Authorization: Bearer \(key)\r\n\r\n")
            }
            return clients.map { client in
                do { return "\(try client.readResponse().status)" } catch RawHTTPError.timeout {
                    return "no answer in 5 s"
                } catch { return "closed" }
            }
        }
        // Answered: 200 from Astro, or 429 when the key's own rate limit (not a shortage) says so.
        let served = outcomes.filter { $0 == "200" || $0 == "429" }.count
        let closed = outcomes.filter { $0 == "closed" }.count
        #expect(served + closed == flood, "\(Dictionary(grouping: outcomes, by: { $0 }).mapValues(\.count))")
        #expect(served >= 40, "only \(served) of \(flood) clients were taken")
        #expect(closed >= 1, "no client was closed: the ceiling did not apply")
        #expect(serve.process.isRunning, "serve died: \(String(decoding: serve.stderr, as: UTF8.self))")

        // It says why, and counts them.
        let log = String(decoding: serve.stderr, as: UTF8.self)
        #expect(log.contains("closing new clients"), "\(log)")
        let metrics = await blocking { try? rawRequest(port: adminPort, target: "/metrics") }
        let line = metrics?.text.split(separator: "\n").first {
            $0.hasPrefix("agw_connections_refused_descriptors_total ")
        }
        #expect(line.flatMap { Int($0.split(separator: " ").last ?? "") } == closed, "\(String(describing: line))")

        // The flood has left: a new client is served.
        var after: Int?
        for _ in 0..<100 where after != 200 {
            after = await blocking {
                try? rawRequest(
                    port: port, target: "/v1/organizations/clorg1/workspaces",
                    headers: [("Authorization", "Bearer \(key)")]
                ).status
            }
            if after != 200 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(after == 200)
        #expect(await serve.terminate() == 0)
    }
}
