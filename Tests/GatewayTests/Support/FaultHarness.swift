import Foundation
import Synchronization
import Testing
import Upstream

@testable import Gateway

/// One client request of a fault test and what the client saw.
struct ClientCall: Sendable {
    let method: String
    let target: String
    var headers: [(String, String)] = []
    var body: [UInt8] { method == "POST" ? Array(#"{"name":"fault-test"}"#.utf8) : [] }

    static func get(_ target: String) -> ClientCall { ClientCall(method: "GET", target: target) }
    static func post(_ target: String) -> ClientCall { ClientCall(method: "POST", target: target) }
    static func delete(_ target: String) -> ClientCall { ClientCall(method: "DELETE", target: target) }
}

struct Observed: @unchecked Sendable {
    // Invariant behind `@unchecked Sendable`: built once on the calling thread, then only read
    // (`RawHTTPResponse` holds a JSON dictionary only when asked for it).
    let call: ClientCall
    let response: RawHTTPResponse?
    /// Monotonic seconds the call started and answered.
    let started: Double
    let finished: Double
    var seconds: Double { finished - started }
    var status: Int { response?.status ?? 0 }
    var requestId: String? { response?.header("x-gateway-request-id") }
}

/// A gateway in front of a `MisbehavingUpstream`, with short timeouts, and the checks every fault
/// test makes: the shape and timing of each answer, that other traffic was served meanwhile, and
/// that every request has its audit records.
struct FaultHarness {
    let upstream: MisbehavingUpstream
    let gateway: TestGateway
    let timeoutSeconds: Double
    let maxWaitSeconds: Double

    /// Requests the upstream's fault applies to (`/deployments`): a read, a create, a delete.
    static let faulty: [ClientCall] = [
        .get("/v1/organizations/clorg1/deployments?fault=1"),
        .post("/v1/organizations/clorg1/deployments"),
        .delete("/v1/organizations/clorg1/deployments/cldep1"),
    ]
    /// Requests it answers well, sent while the faulty ones are in flight.
    static let healthy: [ClientCall] = [
        .get("/v1/organizations?healthy=1"),
        .post("/v1/organizations/clorg1/workspaces"),
        .get("/_gateway/whoami"),
    ]
    /// Gateway endpoints only (when the upstream as a whole is down).
    static let gatewayOnly: [ClientCall] = [.get("/_gateway/whoami")]

    static func start(
        _ fault: UpstreamFault, baseURL: String? = nil, simulator: Bool = false, timeoutSeconds: Double = 1,
        maxWaitSeconds: Double = 2, auditFiles: any AuditFileSystem = PosixAuditFileSystem()
    ) throws -> FaultHarness {
        let upstream = try MisbehavingUpstream(fault)
        let gateway = try TestGateway.start(
            upstream: simulator ? nil : baseURL ?? upstream.baseURL,
            extraYAML: "queue: { maxWaitSeconds: \(maxWaitSeconds) }\n",
            auditFiles: auditFiles, timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: 0.5)
        return FaultHarness(
            upstream: upstream, gateway: gateway, timeoutSeconds: timeoutSeconds, maxWaitSeconds: maxWaitSeconds)
    }

    func stop() {
        upstream.stop()
        gateway.stop()
    }

    /// The longest a client may wait for any answer: the queue, then the whole exchange with
    /// Astro, plus a wide margin for a loaded test machine.
    var answerBound: Double { maxWaitSeconds + timeoutSeconds + 3 }

    /// One call on a fresh connection (a failed read shows as `response == nil`).
    func call(_ c: ClientCall) -> Observed {
        let started = MonotonicClock.now()
        var headers = [gateway.auth] + c.headers
        if c.method == "POST" { headers.append(("Content-Type", "application/json")) }
        let response = try? rawRequest(
            port: gateway.port, method: c.method, target: c.target, headers: headers, body: c.body)
        return Observed(call: c, response: response, started: started, finished: MonotonicClock.now())
    }

    /// Sends the faulty calls at once and, 100 ms later (while they are in flight), the healthy
    /// ones; each on its own thread and connection. Returns both, in the order given.
    func run(_ faulty: [ClientCall], meanwhile healthy: [ClientCall]) -> (faulty: [Observed], healthy: [Observed]) {
        let results = Mutex<[Int: Observed]>([:])
        let group = DispatchGroup()
        let all = faulty + healthy
        for (i, c) in all.enumerated() {
            group.enter()
            Thread.detachNewThread {
                if i >= faulty.count { Thread.sleep(forTimeInterval: 0.1) }
                let observed = self.call(c)
                results.withLock { $0[i] = observed }
                group.leave()
            }
        }
        group.wait()
        let observed = results.withLock { r in all.indices.map { r[$0]! } }
        return (Array(observed.prefix(faulty.count)), Array(observed.dropFirst(faulty.count)))
    }

    /// Each answer is `status` in Astro's error shape, within the bound.
    func expectAnswers(
        _ observed: [Observed], status: Int, messageContains: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for o in observed {
            let label = "\(o.call.method) \(o.call.target)"
            #expect(
                o.status == status, "\(label): \(o.status) \(o.response?.text ?? "no answer")",
                sourceLocation: sourceLocation)
            let json = o.response?.json
            #expect(json?["statusCode"] as? Int == status, "\(label)", sourceLocation: sourceLocation)
            let message = json?["message"] as? String ?? ""
            let requestId = json?["requestId"] as? String ?? ""
            #expect(!message.isEmpty && !requestId.isEmpty, "\(label)", sourceLocation: sourceLocation)
            if let messageContains {
                #expect(
                    o.response?.message.contains(messageContains) == true, "\(label): \(o.response?.message ?? "")",
                    sourceLocation: sourceLocation)
            }
            #expect(o.seconds < answerBound, "\(label) took \(o.seconds) s", sourceLocation: sourceLocation)
        }
    }

    /// The healthy calls answered 200, and (for faults that hold requests) before any faulty one.
    func expectServedMeanwhile(
        _ run: (faulty: [Observed], healthy: [Observed]), whileFaultyWereInFlight: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for o in run.healthy {
            #expect(o.status == 200, "\(o.call.target): \(o.status)", sourceLocation: sourceLocation)
        }
        if whileFaultyWereInFlight, let firstFaulty = run.faulty.map(\.finished).min() {
            #expect(
                run.healthy.allSatisfy { $0.finished < firstFaulty }, "healthy calls waited for the faulty ones",
                sourceLocation: sourceLocation)
        }
    }

    /// The upstream saw each faulty write (the create and the delete) exactly `writes` times.
    func expectWritesReached(_ writes: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(upstream.count("POST", "/deployments") == writes, sourceLocation: sourceLocation)
        #expect(upstream.count("DELETE", "/deployments") == writes, sourceLocation: sourceLocation)
    }

    /// The fault cleared, the same calls are served: nothing stayed stuck.
    func expectRecovers(sourceLocation: SourceLocation = #_sourceLocation) {
        upstream.fault = .none
        for c in Self.faulty {
            let o = call(c)
            #expect(
                o.status == 200, "after the fault: \(c.method) \(c.target): \(o.status)", sourceLocation: sourceLocation
            )
        }
        #expect(
            (try? rawRequest(port: gateway.adminPort, target: "/readyz").status) == 200, sourceLocation: sourceLocation)
    }

    var auditDirectory: String { gateway.directory + "/audit" }

    /// Every answered request has its records: one final record with the status the client saw,
    /// writes that got past the intent stage an intent before it; the chain verifies. Returns the
    /// final record of each observed request, by gateway request id.
    @discardableResult
    func expectAudited(_ observed: [Observed], sourceLocation: SourceLocation = #_sourceLocation) -> [String:
        [String: Any]]
    {
        let records = AuditQuery().run(directory: auditDirectory).map(\.object)
        var finals: [String: [String: Any]] = [:]
        for o in observed {
            guard let id = o.requestId else {
                Issue.record("\(o.call.target): no answer, no request id", sourceLocation: sourceLocation)
                continue
            }
            let mine = records.filter { $0["gatewayRequestId"] as? String == id }
            let phases = mine.compactMap { $0["phase"] as? String }
            // A write's intent is on disk before it can be sent; reads have one record.
            let expected =
                o.call.method != "GET" && !o.call.target.hasPrefix("/_gateway/") ? ["intent", "outcome"] : ["request"]
            #expect(phases == expected, "\(o.call.method) \(o.call.target): \(phases)", sourceLocation: sourceLocation)
            let final = mine.last
            #expect(final?["status"] as? Int == o.status, "\(o.call.target)", sourceLocation: sourceLocation)
            #expect(final?["method"] as? String == o.call.method, sourceLocation: sourceLocation)
            if let final { finals[id] = final }
        }
        let verified = AuditVerifier.verify(directory: auditDirectory, key: Array(TestGateway.auditKey.utf8))
        #expect(verified.ok, "\(String(describing: verified.broken))", sourceLocation: sourceLocation)
        return finals
    }
}
