import Foundation
import Policy
import Synchronization
import Testing
import Upstream

@testable import Gateway

/// Crash safety: the real `serve` process is killed with SIGKILL at seeded random moments under
/// mixed load, then restarted on the same directory. After every kill the audit chain verifies
/// (a torn tail at most), every write the upstream received has a durable intent record, every
/// answer a client received has its record, and the next run serves traffic.
@Suite(.serialized, .offThePool) struct CrashSafetyTests {
    /// Kills per test run. Each costs a process start (~0.3 s debug build) plus up to 0.7 s of load.
    static let kills = 20
    /// `CRASH_SEED=<n>` replays a failing run exactly (the seed is in every failure message).
    static let seed: UInt64 = ProcessInfo.processInfo.environment["CRASH_SEED"].flatMap { UInt64($0) } ?? 0x5EED_C4A5

    /// What one client request saw.
    struct Sent: Sendable {
        let run: Int
        let method: String
        /// POSTs carry a unique marker in the query and the body, to find them upstream.
        let marker: String?
        let status: Int
        let requestId: String?
    }

    @Test(.timeLimit(.minutes(2))) func killNineUnderLoadLosesNoIntentOrAnsweredRecordAndRestartsCleanly()
        async throws
    {
        // The upstream answers after a short random delay, so kills land while writes are in flight
        // upstream (received there, outcome not yet written) as well as between requests.
        let upstream = try RecordingUpstream { request in
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...15)))
            let body = request.method == "POST" ? #"{"id":"clws\#(Int.random(in: 0...999_999))"}"# : "{}"
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]), body: Array(body.utf8))
        }
        defer { upstream.stop() }
        let directory = try ServeProcess.makeDirectory(
            upstreamYAML: "baseURL: \(upstream.baseURL), simulate: false, timeoutSeconds: 5, "
                + "pools: { default: { tokens: [ { id: org-main, env: TEST_ORG_TOKEN } ], "
                + "limits: { GET: 10000, POST: 10000, DELETE: 10000 } } }")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var store = try KeyStore()
        let (_, key) = store.generate(name: "crash-client", policy: "all", now: Date())
        try store.yaml().write(toFile: directory + "/keys.yaml", atomically: true, encoding: .utf8)
        try TestGateway.allowAll.write(toFile: directory + "/policies.yaml", atomically: true, encoding: .utf8)
        let auth = ("Authorization", "Bearer \(key)")
        let auditDirectory = directory + "/audit"
        let auditKey = Array(TestGateway.auditKey.utf8)

        var random = SeededGenerator(seed: Self.seed)
        var sent: [Sent] = []
        for run in 0..<Self.kills {
            let context = "seed \(Self.seed), run \(run)"
            if run % 4 == 3 {
                // Every fourth run, first a kill while the gateway starts (loading its files,
                // recovering the chain, writing the new segment's header, binding).
                let starting = try ServeProcess(directory: directory, run: Self.kills + 1 + run)
                try await Task.sleep(for: .milliseconds(Int(random.next() % 300)))
                starting.killNow()
                await starting.waitForExit()
                let early = AuditVerifier.verify(directory: auditDirectory, key: auditKey)
                #expect(early.ok, "\(context), killed starting: \(early.broken.map(String.init(describing:)) ?? "")")
            }
            let serve = try ServeProcess(directory: directory, run: run)
            defer { serve.killNow() }
            try await serve.waitUntilReady()
            // Restarted cleanly on the same directory: it serves a read and a write at once.
            let port = serve.port
            let probes = await blocking {
                [
                    Self.send(run: run, client: -1, n: 0, post: false, port: port, auth: auth),
                    Self.send(run: run, client: -1, n: 1, post: true, port: port, auth: auth),
                ]
            }
            #expect(probes.map(\.status) == [200, 200], "\(context): the restarted gateway does not serve")
            sent += probes

            // Mixed load from client threads until the kill: each client stops at its first
            // request without an answer (the gateway died under it).
            let stop = StopFlag()
            let clientSeeds = (0..<3).map { _ in random.next() }
            let load = Task {
                await withTaskGroup(of: [Sent].self) { group in
                    for (client, clientSeed) in clientSeeds.enumerated() {
                        group.addTask {
                            await blocking {
                                var own = SeededGenerator(seed: clientSeed)
                                var out: [Sent] = []
                                var n = 0
                                while !stop.isSet {
                                    n += 1
                                    let one = Self.send(
                                        run: run, client: client, n: n, post: own.next() % 2 == 0, port: port,
                                        auth: auth)
                                    out.append(one)
                                    if one.status == 0 { break }
                                }
                                return out
                            }
                        }
                    }
                    var all: [Sent] = []
                    for await part in group { all += part }
                    return all
                }
            }
            try await Task.sleep(for: .milliseconds(Int(random.next() % 700)))
            serve.kill9()
            await serve.waitForExit()
            stop.set()
            let loadSent = await load.value
            // Until the kill every request was answered, and answered 200.
            #expect(loadSent.filter { $0.status == 0 }.count <= clientSeeds.count, "\(context)")
            let refused = loadSent.filter { $0.status != 0 && $0.status != 200 }.map(\.status)
            #expect(refused.isEmpty, "\(context): statuses under load: \(refused)")
            sent += loadSent
            // Anything the upstream server was still reading when the gateway died shows up by now.
            try await Task.sleep(for: .milliseconds(30))

            let verification = AuditVerifier.verify(directory: auditDirectory, key: auditKey)
            #expect(
                verification.ok,
                "\(context): chain broken at \(verification.broken.map(String.init(describing:)) ?? "")"
            )
            let records = AuditQuery().run(directory: auditDirectory).map(\.object)
            Self.checkEveryUpstreamWriteHasAnIntent(upstream.received, records: records, context: context)
            Self.checkEveryAnswerWasRecorded(sent, records: records, context: context)
            Self.checkOpenIntentsAreUnansweredWrites(verification, sent: sent, context: context)
        }

        // One last clean run: it serves, stops gracefully, and the chain verifies across all runs.
        let final = try ServeProcess(directory: directory, run: Self.kills)
        defer { final.killNow() }
        try await final.waitUntilReady()
        let finalPort = final.port
        let probes = await blocking {
            [
                Self.send(run: Self.kills, client: -1, n: 0, post: false, port: finalPort, auth: auth),
                Self.send(run: Self.kills, client: -1, n: 1, post: true, port: finalPort, auth: auth),
            ]
        }
        #expect(probes.map(\.status) == [200, 200])
        sent += probes
        #expect(await final.terminate() == 0)
        let verification = AuditVerifier.verify(directory: auditDirectory, key: auditKey)
        #expect(verification.ok, "seed \(Self.seed): \(verification.broken.map(String.init(describing:)) ?? "")")
        // Each start opens its own segment, chained from the last record the previous run wrote.
        #expect(verification.segments >= Self.kills + 1)
        let records = AuditQuery().run(directory: auditDirectory).map(\.object)
        Self.checkEveryUpstreamWriteHasAnIntent(upstream.received, records: records, context: "final")
        Self.checkEveryAnswerWasRecorded(sent, records: records, context: "final")
        // The load really mixed reads and writes, and many writes reached the upstream.
        let upstreamPosts = upstream.received.filter { $0.method == "POST" }.count
        #expect(upstreamPosts >= Self.kills * 5, "only \(upstreamPosts) writes reached the upstream")
        #expect(upstream.received.filter { $0.method == "GET" }.count >= Self.kills)
    }

    /// The narrowest crash window at startup, made on purpose: the new segment file exists but the
    /// process died before its header reached it, and the next start falls in the same second (so
    /// it computes the same segment name). The log was not tampered with, so it must verify.
    @Test func aCrashBetweenCreatingASegmentAndWritingItsHeaderStillVerifies() async throws {
        let key = Array(TestGateway.auditKey.utf8)
        var reproduced = false
        for _ in 0..<5 where !reproduced {
            let directory = NSTemporaryDirectory() + "agw-segment-crash-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let first = try AuditWriter(options: AuditWriter.Options(directory: directory, key: key))
            var record = AuditRecord()
            record.gatewayRequestId = "before-the-crash"
            try await first.append(record)
            first.closeAndWait()
            // The crashed start: its segment file, created empty.
            let lastSeq = try #require(
                AuditSegments.lastIntactRecord(in: directory, files: PosixAuditFileSystem())?.seq)
            let crashed = AuditSegments.name(now: Date(), nextSeq: lastSeq + 1)
            _ = FileManager.default.createFile(atPath: directory + "/" + crashed, contents: nil)
            let second = try AuditWriter(options: AuditWriter.Options(directory: directory, key: key))
            record.gatewayRequestId = "after-the-restart"
            try await second.append(record)
            second.closeAndWait()
            // Only a restart in the same second reuses the crashed file's name; retry otherwise.
            guard AuditSegments.list(directory).count == 2 else { continue }
            reproduced = true
            let verification = AuditVerifier.verify(directory: directory, key: key)
            // The restart reuses the empty file and names the segment before it as previous.
            #expect(verification.ok, "\(verification.broken.map(String.init(describing:)) ?? "")")
            // Nothing was lost either way.
            let ids = AuditQuery().run(directory: directory).map { $0.object["gatewayRequestId"] as? String }
            #expect(ids == ["before-the-crash", "after-the-restart"])
        }
        #expect(reproduced, "the restart never fell in the same second as the crash")
    }

    /// Sends one GET or one marked POST on a fresh connection; status 0 when the gateway died.
    static func send(run: Int, client: Int, n: Int, post: Bool, port: Int, auth: (String, String)) -> Sent {
        let marker = "r\(run)c\(client)n\(n)"
        let answer: (status: Int, requestId: String?)?
        if post {
            let body = #"{"name":"\#(marker)","description":"crash","cicdEnforcedDefault":false}"#
            answer = OneShotHTTP.request(
                port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces?marker=\(marker)",
                headers: [auth, ("Content-Type", "application/json")], body: Array(body.utf8))
        } else {
            answer = OneShotHTTP.request(
                port: port, method: "GET", target: "/v1/organizations/clorg1/deployments?n=\(n)", headers: [auth])
        }
        return Sent(
            run: run, method: post ? "POST" : "GET", marker: post ? marker : nil, status: answer?.status ?? 0,
            requestId: answer?.requestId)
    }

    /// Every write the upstream received has an intent record with the same target and body
    /// digest, and no write reached the upstream twice (writes are never retried).
    static func checkEveryUpstreamWriteHasAnIntent(
        _ received: [ReceivedRequest], records: [[String: Any]], context: String
    ) {
        var intents: Set<String> = []
        for record in records where record["phase"] as? String == "intent" {
            intents.insert("\(record["target"] as? String ?? "")|\(record["bodySha256"] as? String ?? "")")
        }
        var seen: Set<String> = []
        var missing: [String] = []
        var duplicated: [String] = []
        for request in received where request.method == "POST" {
            // The gateway maps /v1/<rest> to <baseURL>/<rest>; the recording upstream's base is /v1.
            let fingerprint = "\(request.target)|\(Crypto.hex(Crypto.sha256(request.body)))"
            if !intents.contains(fingerprint) { missing.append(request.target) }
            if !seen.insert(fingerprint).inserted { duplicated.append(request.target) }
        }
        #expect(missing.isEmpty, "\(context): writes reached the upstream without an intent record: \(missing)")
        #expect(duplicated.isEmpty, "\(context): writes reached the upstream twice: \(duplicated)")
    }

    /// A record is written before its answer: every answer a client got is in the log with its status.
    static func checkEveryAnswerWasRecorded(_ sent: [Sent], records: [[String: Any]], context: String) {
        var final: [String: Int] = [:]
        for record in records {
            guard let id = record["gatewayRequestId"] as? String, let phase = record["phase"] as? String,
                phase == "request" || phase == "outcome"
            else { continue }
            final[id] = record["status"] as? Int ?? -1
        }
        let lost = sent.filter { $0.status != 0 }.filter { sent in
            guard let id = sent.requestId else { return true }
            return final[id] != sent.status
        }
        #expect(lost.isEmpty, "\(context): answered requests missing from the audit log: \(lost.prefix(5))")
    }

    /// After a kill, a write's intent may lack its outcome only if its client got no answer.
    static func checkOpenIntentsAreUnansweredWrites(_ verification: AuditVerification, sent: [Sent], context: String) {
        let answered = Set(sent.compactMap { $0.status != 0 ? $0.requestId : nil })
        let wrong = verification.openIntents.filter { answered.contains($0.gatewayRequestId) }
        #expect(wrong.isEmpty, "\(context): answered writes whose outcome is missing: \(wrong.map(\.target))")
    }
}

/// One request with `Connection: close`, read to EOF; nil when the connection is refused or cut
/// before a whole response head arrived. Its own socket code (not `RawHTTPConnection`) because
/// this client keeps connecting while the gateway is dead, and `RawHTTPConnection.init` closes
/// its descriptor twice when `connect` fails (once in init, again in deinit, which Swift runs for
/// a fully initialized class whose init throws): with a recording upstream's libmicrohttpd in
/// this process, the second close can hit a reused descriptor and abort the test process.
enum OneShotHTTP {
    static func request(
        port: Int, method: String, target: String, headers: [(String, String)], body: [UInt8] = []
    ) -> (status: Int, requestId: String?)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if method != "GET" { head += "Content-Length: \(body.count)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return nil }
            sent += n
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
            let status = Int(statusLine.dropFirst(9).prefix(3))
        else { return nil }
        let requestId = lines.dropFirst().first { $0.lowercased().hasPrefix("x-gateway-request-id:") }
            .map { $0.dropFirst("x-gateway-request-id:".count).trimmingCharacters(in: .whitespaces) }
        return (status, requestId)
    }
}

/// A flag the test sets once to stop its client threads.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

enum ServeProcessError: Error, CustomStringConvertible {
    case exited(Int32, String)
    case notReady(String)
    var description: String {
        switch self {
        case .exited(let status, let log): "serve exited with status \(status): \(log)"
        case .notReady(let log): "serve did not become ready: \(log)"
        }
    }
}

/// A real `astro-gateway serve` process on a test directory. Its stdout and stderr go to files
/// there (so a test can read every byte it printed); both ports are chosen by the OS (port 0) and
/// read back from its startup line, so concurrent test runs never collide.
final class ServeProcess {
    let directory: String
    let process = Process()
    let stdoutPath: String
    let stderrPath: String
    private let outputs: [FileHandle]
    private(set) var port = 0
    private(set) var adminPort = 0

    static func environment(orgToken: String = TestGateway.orgToken, auditKey: String = TestGateway.auditKey)
        -> [String: String]
    {
        var env = ProcessInfo.processInfo.environment
        env["TEST_ORG_TOKEN"] = orgToken
        env["TEST_AUDIT_KEY"] = auditKey
        return env
    }

    /// A fresh directory with a `gateway.yaml` listening on OS-chosen loopback ports, auditing to
    /// `audit/` with the HMAC key from `TEST_AUDIT_KEY`. `upstreamYAML` is the `upstream` mapping's body.
    static func makeDirectory(upstreamYAML: String) throws -> String {
        let directory = NSTemporaryDirectory() + "agw-serve-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
        listen: { address: 127.0.0.1, port: 0 }
        admin: { address: 127.0.0.1, port: 0 }
        upstream: { \(upstreamYAML) }
        keys: keys.yaml
        policies: policies.yaml
        audit: { directory: audit, hmacKey: { env: TEST_AUDIT_KEY } }
        shutdown: { drainSeconds: 1 }
        """.write(toFile: directory + "/gateway.yaml", atomically: true, encoding: .utf8)
        return directory
    }

    /// Starts `serve --config <directory>/gateway.yaml`; `run` numbers its output files. With
    /// `openFileLimit`, through `sh` after `ulimit -n` (soft and hard: `serve` cannot raise it).
    init(
        directory: String, run: Int, environment: [String: String] = ServeProcess.environment(),
        openFileLimit: Int? = nil
    ) throws {
        self.directory = directory
        stdoutPath = directory + "/serve-\(run).stdout"
        stderrPath = directory + "/serve-\(run).stderr"
        var outputs: [FileHandle] = []
        for path in [stdoutPath, stderrPath] {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            outputs.append(try FileHandle(forWritingTo: URL(fileURLWithPath: path)))
        }
        self.outputs = outputs
        let arguments = ["serve", "--config", directory + "/gateway.yaml"]
        if let openFileLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(openFileLimit) && exec \"$0\" \"$@\"", Paths.binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Paths.binary)
            process.arguments = arguments
        }
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outputs[0]
        process.standardError = outputs[1]
        try process.run()
    }

    deinit { killNow() }

    var stdout: [UInt8] { Array(FileManager.default.contents(atPath: stdoutPath) ?? Data()) }
    var stderr: [UInt8] { Array(FileManager.default.contents(atPath: stderrPath) ?? Data()) }

    /// Waits for the startup line (which names both ports) and for `/readyz` to answer 200.
    func waitUntilReady(timeoutSeconds: Double = 20) async throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            let log = String(decoding: stderr, as: UTF8.self)
            guard process.isRunning else { throw ServeProcessError.exited(process.terminationStatus, log) }
            if port == 0,
                let match = log.firstMatch(of: #/listening on http://[^ ,]+:(\d+), admin on http://[^ ,]+:(\d+)/#)
            {
                port = Int(match.1) ?? 0
                adminPort = Int(match.2) ?? 0
            }
            if port != 0 {
                let admin = adminPort
                let ready = await blocking {
                    OneShotHTTP.request(port: admin, method: "GET", target: "/readyz", headers: [])?.status == 200
                }
                if ready { return }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ServeProcessError.notReady(String(decoding: stderr, as: UTF8.self))
    }

    func kill9() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// Safety net for failing tests: no gateway outlives its test.
    func killNow() {
        kill9()
        for handle in outputs { try? handle.close() }
    }

    func signal(_ signal: Int32) { if process.isRunning { kill(process.processIdentifier, signal) } }

    /// Polls (never blocks a pool thread) until the process has exited, at most `timeoutSeconds`.
    func waitForExit(timeoutSeconds: Double = 10) async {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }

    /// SIGTERM (graceful drain), then the exit status (-1 if it did not exit in time).
    func terminate() async -> Int32 {
        signal(SIGTERM)
        await waitForExit()
        return process.isRunning ? -1 : process.terminationStatus
    }
}
