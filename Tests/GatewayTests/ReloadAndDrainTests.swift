import Foundation
import Policy
import Synchronization
import Testing

@testable import Gateway

/// Hot reload and graceful drain, in-process and through a real `serve` process with signals.
@Suite(.serialized, .offThePool) struct ReloadAndDrainTests {
    @Test func reloadAddsAndRevokesKeysWithoutFailingConcurrentLoad() async throws {
        let upstream = try RecordingUpstream()  // no rate limit: the load is about reload, not pacing
        defer { upstream.stop() }
        let gateway = try TestGateway.start(upstream: upstream.baseURL)
        defer { gateway.stop() }
        let keysPath = gateway.directory + "/keys.yaml"
        var store = try KeyStore.parse(yaml: String(contentsOfFile: keysPath, encoding: .utf8))
        let (victim, victimKey) = store.generate(name: "victim", policy: "all", now: Date())
        try store.yaml().write(toFile: keysPath, atomically: true, encoding: .utf8)
        try gateway.instance.reload()
        #expect(
            try rawRequest(
                port: gateway.port, target: "/v1/users/self", headers: [("Authorization", "Bearer \(victimKey)")]
            ).status == 200)

        // Steady load with the original key while keys change underneath.
        let failures = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let port = gateway.port
        let auth = gateway.auth
        // Blocking client I/O runs on its own thread: the cooperative pool (2 threads on 2 cores)
        // must stay free for the gateway's own tasks.
        let load = Task {
            await onThread {
                for _ in 0..<200 {
                    let status = (try? rawRequest(port: port, target: "/v1/organizations", headers: [auth]).status) ?? 0
                    if status != 200 { failures.add(1, ordering: .relaxed) }
                    done.add(1, ordering: .relaxed)
                }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let (_, newKey) = store.generate(name: "newcomer", policy: "all", now: Date())
        try store.revoke(id: victim.id, now: Date())
        try store.yaml().write(toFile: keysPath, atomically: true, encoding: .utf8)
        try gateway.instance.reload()
        #expect(
            try rawRequest(
                port: gateway.port, target: "/v1/users/self", headers: [("Authorization", "Bearer \(newKey)")]
            ).status == 200)
        let revoked = try rawRequest(
            port: gateway.port, target: "/v1/users/self", headers: [("Authorization", "Bearer \(victimKey)")])
        #expect(revoked.status == 401)
        #expect(revoked.message.contains("revoked"))
        await load.value
        #expect(done.load(ordering: .relaxed) == 200)
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(gateway.instance.holder.generation == 3)
    }

    @Test func brokenConfigOnReloadKeepsTheOldOneServing() throws {
        let gateway = try TestGateway.start(upstream: nil)
        defer { gateway.stop() }
        let policiesPath = gateway.directory + "/policies.yaml"
        try "policies:\n  all:\n    allow:\n      - operations: [NoSuchOperation]\n".write(
            toFile: policiesPath, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try gateway.instance.reload() }
        #expect(gateway.instance.holder.generation == 1)
        #expect(try rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth]).status == 200)
    }

    @Test func serveProcessReloadsOnSIGHUPAndExitsZeroOnSIGTERM() async throws {
        let gateway = try TestGateway.start(upstream: nil)
        gateway.stop()  // keep only its files; the real process below uses them
        let dir = NSTemporaryDirectory() + "agw-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = Int.random(in: 20000...40000)
        let adminPort = port + 1
        try """
        listen: { address: 127.0.0.1, port: \(port) }
        admin: { address: 127.0.0.1, port: \(adminPort) }
        upstream: { simulate: true, pools: { default: { tokens: [ { id: org-main, env: TEST_ORG_TOKEN } ] } } }
        audit: { directory: audit, hmacKey: { env: TEST_AUDIT_KEY } }
        shutdown: { drainSeconds: 2 }
        """.write(toFile: dir + "/gateway.yaml", atomically: true, encoding: .utf8)
        try TestGateway.allowAll.write(toFile: dir + "/policies.yaml", atomically: true, encoding: .utf8)
        var store = try KeyStore()
        let (_, key) = store.generate(name: "p", policy: "all", now: Date())
        try store.yaml().write(toFile: dir + "/keys.yaml", atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        process.arguments = ["serve", "--config", dir + "/gateway.yaml"]
        var env = ProcessInfo.processInfo.environment
        env["TEST_ORG_TOKEN"] = TestGateway.orgToken
        env["TEST_AUDIT_KEY"] = TestGateway.auditKey
        process.environment = env
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var ready = false
        for _ in 0..<400 {  // up to 20 s: CI machines can be very busy
            if (try? rawRequest(port: adminPort, target: "/healthz").status) == 200 {
                ready = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(ready)
        let auth = ("Authorization", "Bearer \(key)")
        #expect(try rawRequest(port: port, target: "/v1/organizations", headers: [auth]).status == 200)

        // Revoke through the CLI, reload with SIGHUP: the key stops working within a second.
        let revoke = Process()
        revoke.executableURL = URL(fileURLWithPath: Paths.binary)
        revoke.arguments = ["keys", "revoke", "--config", dir + "/gateway.yaml", String(key.split(separator: "_")[1])]
        revoke.environment = env
        revoke.standardOutput = Pipe()
        try revoke.run()
        revoke.waitUntilExit()
        #expect(revoke.terminationStatus == 0)
        kill(process.processIdentifier, SIGHUP)
        var revokedSeen = false
        for _ in 0..<20 {
            if (try? rawRequest(port: port, target: "/v1/organizations", headers: [auth]).status) == 401 {
                revokedSeen = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(revokedSeen)

        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        let log = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("reload: configuration 2 in effect"))
        #expect(!log.contains(TestGateway.orgToken))
        #expect(!log.contains(key))
    }
}

/// Runs blocking work on a dedicated thread and waits for it without holding a pool thread.
func onThread(_ work: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread.detachNewThread {
            work()
            continuation.resume()
        }
    }
}

enum Paths {
    /// The repository root, from this file's location.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The `astro-gateway` executable built alongside the tests.
    static var binary: String {
        let candidates = [
            root + "/.build/debug/astro-gateway", root + "/.build/x86_64-unknown-linux-gnu/debug/astro-gateway",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }
}

/// Nothing lost at shutdown: every queued write is either sent (and audited) or answered 503
/// "not sent" (and audited as such).
@Suite(.serialized, .offThePool) struct DrainTests {
    @Test func shutdownDuringABurstOfQueuedWritesLosesNothing() async throws {
        let gateway = try TestGateway.start(upstream: nil, limits: "{ GET: 25, POST: 10, DELETE: 5 }")
        let port = gateway.port
        let auth = gateway.auth
        let count = 40
        let responses = await withTaskGroup(of: (Int, RawHTTPResponse?).self) { group in
            for i in 0..<count {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        Thread.detachNewThread {
                            let body = Array(
                                #"{"name":"drain-\#(i)","description":"d","cicdEnforcedDefault":false}"#.utf8)
                            let r = try? rawRequest(
                                port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces?i=\(i)",
                                headers: [auth, ("Content-Type", "application/json")], body: body)
                            continuation.resume(returning: (i, r))
                        }
                    }
                }
            }
            group.addTask {
                // Let the first second's writes through, then stop with a short drain.
                await withCheckedContinuation { continuation in
                    Thread.detachNewThread {
                        Thread.sleep(forTimeInterval: 1.2)
                        gateway.instance.shutdown(drainSeconds: 0.5)
                        continuation.resume(returning: ())
                    }
                }
                return (-1, nil)
            }
            var out: [Int: RawHTTPResponse] = [:]
            for await (i, r) in group where i >= 0 { out[i] = r }
            return out
        }
        defer { try? FileManager.default.removeItem(atPath: gateway.directory) }
        // Every client got an answer: 200 (sent) or 503 (not sent).
        let statuses = (0..<count).map { responses[$0]?.status ?? 0 }
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "\(statuses)")
        let sent = statuses.filter { $0 == 200 }.count
        #expect(sent >= 10 && sent < count)
        // The simulator saw exactly the writes that were answered 200.
        #expect(gateway.instance.simulator!.trace().filter { $0.method == "POST" }.count == sent)
        // And the audit log has an intent and an outcome for every one of them.
        let records = AuditQuery().run(directory: gateway.directory + "/audit").map(\.object)
        for i in 0..<count {
            guard let id = responses[i]?.header("x-gateway-request-id") else {
                Issue.record("request \(i) has no request id")
                continue
            }
            let mine = records.filter { $0["gatewayRequestId"] as? String == id }
            let outcome = mine.first { $0["phase"] as? String == "outcome" }
            #expect(mine.contains { $0["phase"] as? String == "intent" }, "request \(i)")
            #expect(outcome?["status"] as? Int == statuses[i], "request \(i)")
            if statuses[i] == 503 {
                let note = outcome?["note"] as? String
                #expect(note?.contains("not sent") == true, "request \(i)")
            }
        }
        #expect(AuditVerifier.verify(directory: gateway.directory + "/audit", key: Array(TestGateway.auditKey.utf8)).ok)
    }
}
