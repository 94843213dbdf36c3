import Policy

/// What the engine needs to know about one request besides the request itself.
struct RequestContext: Sendable {
    let requestId: String
    /// Wall-clock time as RFC 3339, for `createdAt`/`updatedAt`.
    let timestamp: String
    /// Wall-clock seconds since 1970, for log lines.
    let wallSeconds: Double
    let fault: FaultDirective
}

/// The simulator's synchronous core: authentication, rate limiting, routing and the state machine.
///
/// A value type with no I/O and no clock of its own besides `config.monotonicNow`, so it can be
/// driven exhaustively in tests; `AstroSimulator` wraps it in a mutex and adds the waiting.
struct SimulatorEngine: Sendable {
    let config: SimulatorConfig
    let catalogue: RouteCatalogue
    let shapes: RouteShapes
    var store = ResourceStore()
    var limiter: SlidingWindowLimiter
    var ids: SeededGenerator
    var faults: SeededGenerator
    private(set) var trace: [SimulatorTraceEntry] = []
    private(set) var stats = SimulatorStats()
    private(set) var auditEvents: [JSONObject] = []

    static let auditEventCapacity = 10_000

    init(config: SimulatorConfig, catalogue: RouteCatalogue, timestamp: String) {
        self.config = config
        self.catalogue = catalogue
        self.shapes = RouteShapes(catalogue: catalogue)
        self.limiter = SlidingWindowLimiter(limits: config.limits)
        self.ids = SeededGenerator(seed: config.seed)
        self.faults = SeededGenerator(seed: config.seed ^ 0x5EED_FA17_5EED_FA17)
        seed(timestamp: timestamp)
    }

    private mutating func seed(timestamp: String) {
        let org = config.organizationId
        store.put(
            Fixtures.organization(id: org, name: config.organizationName, timestamp: timestamp),
            in: ["organizations"], id: org)
        guard config.seedDemoData else { return }
        let orgPath = ["organizations", org]
        store.put(
            Fixtures.workspace(organizationId: org, timestamp: timestamp), in: orgPath + ["workspaces"],
            id: Fixtures.demoWorkspaceId)
        store.put(
            Fixtures.deployment(organizationId: org, timestamp: timestamp), in: orgPath + ["deployments"],
            id: Fixtures.demoDeploymentId)
        var user = Fixtures.selfUser(timestamp: timestamp)
        user["organizationId"] = .string(org)
        user["organizationRole"] = .string("ORGANIZATION_OWNER")
        store.put(user, in: orgPath + ["users"], id: Fixtures.selfUserId)
    }

    mutating func resetTrace() {
        trace.removeAll()
        stats = SimulatorStats()
    }

    // MARK: - Pipeline

    mutating func handle(_ request: SimulatorRequest, _ context: RequestContext) -> SimulatorResponse {
        stats.requests += 1
        stats.apiVersions[request.header("X-API-Version") ?? "", default: 0] += 1
        guard let tokenId = authenticate(request) else {
            stats.unauthorized += 1
            return AstroError.response(
                401, "Unauthorized: missing or invalid bearer token", requestId: context.requestId)
        }
        let now = config.monotonicNow()
        if config.enforceLimits,
            case .rejected(let limit, let retryAfter) = limiter.admit(
                tokenId: tokenId, method: request.method, now: now)
        {
            stats.rateLimited += 1
            var response = AstroError.response(
                429, "Too many requests: limit of \(limit) \(request.method) requests per second per token",
                requestId: context.requestId)
            response.headers.append((name: "Retry-After", value: String(max(1, Int(retryAfter.rounded(.up))))))
            return response
        }

        var path = Substring(request.path)
        var rawQuery = request.query
        if let mark = path.firstIndex(of: "?") {
            if rawQuery == nil { rawQuery = String(path[path.index(after: mark)...]) }
            path = path[..<mark]
        }
        let segments: [String]? =
            path.hasPrefix("/")
            ? path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
                QueryParameters.decodePathSegment($0)
            } : nil
        let lookup = segments.map { catalogue.lookup(method: request.method, segments: $0) } ?? .notFound

        var operationId: String?
        let response: SimulatorResponse
        if let status = context.fault.status {
            response = AstroError.response(status, "Simulated fault: status \(status)", requestId: context.requestId)
        } else if config.errorRate > 0, Double.random(in: 0..<1, using: &faults) < config.errorRate {
            response = AstroError.response(500, "Simulated internal server error", requestId: context.requestId)
        } else {
            switch lookup {
            case .notFound:
                response = AstroError.response(
                    404, "Route not found: \(request.method) /v1\(path)", requestId: context.requestId)
            case .methodNotAllowed(let allowed):
                var refused = AstroError.response(
                    405, "Method \(request.method) not allowed; allowed: \(allowed.joined(separator: ", "))",
                    requestId: context.requestId)
                refused.headers.append((name: "Allow", value: allowed.joined(separator: ", ")))
                response = refused
            case .matched(let route, _):
                operationId = route.operationId
                let call = Call(
                    route: route, segments: segments ?? [], query: QueryParameters(rawQuery), tokenId: tokenId,
                    context: context)
                response = perform(call, rawBody: request.body)
            }
        }
        if case .matched(let route, _) = lookup { operationId = route.operationId }
        record(
            SimulatorTraceEntry(
                time: now, tokenId: tokenId, method: request.method, operationId: operationId,
                status: response.status, requestId: context.requestId))
        if request.method != "GET", (200..<300).contains(response.status), let operationId {
            recordAuditEvent(
                operationId: operationId, method: request.method, path: String(path), tokenId: tokenId,
                context: context)
        }
        return response
    }

    /// The bearer token's id, or nil. A simulator, so a dictionary lookup (not constant time) is fine.
    private func authenticate(_ request: SimulatorRequest) -> String? {
        guard let header = request.header("Authorization") else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return config.tokens[String(parts[1]).trimmingSpaces]
    }

    private mutating func record(_ entry: SimulatorTraceEntry) {
        guard config.traceCapacity > 0 else { return }
        if trace.count >= config.traceCapacity {
            trace.removeFirst(max(1, min(trace.count, config.traceCapacity / 10)))
        }
        trace.append(entry)
    }

    private mutating func recordAuditEvent(
        operationId: String, method: String, path: String, tokenId: String, context: RequestContext
    ) {
        if auditEvents.count >= Self.auditEventCapacity { auditEvents.removeFirst(Self.auditEventCapacity / 10) }
        auditEvents.append([
            "timestamp": .string(context.timestamp),
            "action": .string(operationId),
            "method": .string(method),
            "target": .string("/v1" + path),
            "requestId": .string(context.requestId),
            "subject": .object(["id": .string(tokenId), "subjectType": .string("SERVICEKEY")]),
        ])
    }
}

/// One matched request on its way through the state machine.
struct Call {
    let route: Route
    /// Decoded path segments, one per template segment.
    let segments: [String]
    let query: QueryParameters
    let tokenId: String
    let context: RequestContext
    var body: JSONObject = [:]

    init(route: Route, segments: [String], query: QueryParameters, tokenId: String, context: RequestContext) {
        self.route = route
        self.segments = segments
        self.query = query
        self.tokenId = tokenId
        self.context = context
    }

    var requestId: String { context.requestId }

    /// The path parameters by name, e.g. `["organizationId": "clorg1"]`.
    var parameters: [String: String] {
        var values: [String: String] = [:]
        for (segment, value) in zip(route.segments, segments) {
            if case .parameter(let name) = segment { values[name] = value }
        }
        return values
    }

    func fail(_ status: Int, _ message: String) -> SimulatorResponse {
        AstroError.response(status, message, requestId: requestId)
    }

    func invalid(_ errors: [FieldError]) -> SimulatorResponse { AstroError.validation(errors, requestId: requestId) }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first == " " || slice.first == "\t" { slice.removeFirst() }
        while slice.last == " " || slice.last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
