import Foundation
import Prometheus
import Synchronization
import Upstream

/// Prometheus metrics for `/metrics`. Labels never carry secrets: keys appear by name, tokens by
/// id, operations by catalogue operationId; unknown values are "-". Values that other parts own
/// (audit writer counters, queue depths, connections) are read at scrape time.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Series already registered, by metric and label values: building a descriptor and asking
    /// the registry on every request showed up in profiles, a dictionary probe does not. The label
    /// names are fixed per metric, so the values alone tell series apart.
    private let counters = Mutex(SeriesTable<Counter>())
    private let histograms = Mutex(SeriesTable<ValueHistogram>())

    /// Registered series, with the few used last kept in front: comparing a key with those (equal
    /// short strings compare by their bits) is cheaper than hashing all its label values, and a
    /// steady load keeps hitting the same handful of series (hashing series keys was ~2% of a
    /// forwarded request). Compared in place, by index: copying entries out retained each string.
    struct SeriesTable<Value> {
        private var byKey: [SeriesKey: Value] = [:]
        private var recentKeys: [SeriesKey] = []
        private var recentValues: [Value] = []
        private var nextSlot = 0
        static var recentCount: Int { 8 }

        mutating func find(_ key: SeriesKey) -> Value? {
            var i = 0
            while i < recentKeys.count {
                if recentKeys[i] == key { return recentValues[i] }
                i += 1
            }
            guard let value = byKey[key] else { return nil }
            remember(key, value)
            return value
        }

        mutating func insert(_ key: SeriesKey, _ value: Value) {
            byKey[key] = value
            if let i = recentKeys.firstIndex(of: key) {
                recentValues[i] = value
            } else {
                remember(key, value)
            }
        }

        private mutating func remember(_ key: SeriesKey, _ value: Value) {
            if recentKeys.count < Self.recentCount {
                recentKeys.append(key)
                recentValues.append(value)
            } else {
                recentKeys[nextSlot] = key
                recentValues[nextSlot] = value
                nextSlot = (nextSlot + 1) % Self.recentCount
            }
        }
    }

    /// A series: its metric and up to five label values, in fields rather than an array (an array
    /// per series per request was an allocation each). Unused values are "" (a label value is never
    /// empty: missing ones are "-"); the metric's label names say how many there are.
    struct SeriesKey: Hashable {
        let metric: String
        let v0: String, v1: String, v2: String, v3: String, v4: String

        init(
            _ metric: String, _ v0: String = "", _ v1: String = "", _ v2: String = "", _ v3: String = "",
            _ v4: String = ""
        ) {
            self.metric = metric
            (self.v0, self.v1, self.v2, self.v3, self.v4) = (v0, v1, v2, v3, v4)
        }

        func values(count: Int) -> [String] { Array([v0, v1, v2, v3, v4].prefix(count)) }
    }

    private func counter(_ key: SeriesKey, _ help: String, _ names: [String]) -> Counter {
        if let existing = counters.withLock({ $0.find(key) }) { return existing }
        let made = registry.makeCounter(
            descriptor: Self.name(key.metric, "total", help), labels: Array(zip(names, key.values(count: names.count))))
        counters.withLock { $0.insert(key, made) }
        return made
    }

    private func histogram(_ key: SeriesKey, _ help: String, _ names: [String]) -> ValueHistogram {
        if let existing = histograms.withLock({ $0.find(key) }) { return existing }
        let made = registry.makeValueHistogram(
            descriptor: Self.name(key.metric, "seconds", help),
            labels: Array(zip(names, key.values(count: names.count))),
            buckets: durationBuckets)
        histograms.withLock { $0.insert(key, made) }
        return made
    }
    private let durationBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
    ]

    public init() {}

    static func label(_ value: String?) -> String { (value?.isEmpty ?? true) ? "-" : value! }

    /// `agw_<metric>_<unit>` with its help text.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "agw", metricName: metric, unitName: unit, helpText: help)
    }

    /// One finished request, as the audit log recorded it.
    func requestFinished(_ context: RequestContext, durationSeconds: Double) {
        counter(
            SeriesKey(
                "requests", Self.label(context.keyName), Self.label(context.policy), Self.label(context.operationId),
                context.decision, String(context.status)),
            "Requests answered, by key, policy, operation, decision and status.",
            ["key", "policy", "operation", "decision", "status"]
        ).increment()
        histogram(
            SeriesKey("request_duration", context.decision), "Time from request line to answer.", ["decision"]
        ).record(durationSeconds)
        if let tokenId = context.tokenId, let upstreamStatus = context.upstreamStatus {
            let methodClass = MethodClass(method: context.request.method).rawValue
            counter(
                SeriesKey("upstream_requests", tokenId, methodClass, String(upstreamStatus)),
                "Answers from Astro, by token, method class and status.", ["token", "class", "status"]
            ).increment()
            if context.upstream429s > 0 {
                counter(
                    SeriesKey("upstream_429", tokenId, methodClass), "Upstream 429s absorbed and re-queued.",
                    ["token", "class"]
                )
                .increment(by: Int64(context.upstream429s))
            }
            if let queueMs = context.queueMs {
                histogram(
                    SeriesKey("queue_wait", tokenId, methodClass), "Time waiting for a rate-limit slot.",
                    ["token", "class"]
                )
                .record(queueMs / 1000)
            }
        }
        if let role = context.coalesced {
            counter(SeriesKey("coalesced", role), "GETs by coalescing role.", ["role"]).increment()
        }
        if context.note?.hasPrefix("idempotent replay") == true {
            counter(SeriesKey("idempotent_replays"), "POSTs answered from the idempotency store.", []).increment()
        }
    }

    public func configReload(success: Bool) {
        counter(
            SeriesKey("config_reloads", success ? "success" : "failure"), "Configuration reloads by result.", ["result"]
        )
        .increment()
    }

    /// The exposition text: registry metrics, then values read now from their owners.
    func render(
        audit: AuditWriter.Counters, auditHealthy: Bool, queueDepths: [(pool: String, methodClass: String, depth: Int)],
        openConnections: Int, suspendedRequests: Int, refusedForDescriptors: Int
    ) -> String {
        var text = registry.emitToString()
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { text += "\(name)\(labels) \(Self.number(value))\n" }
        }
        metric("agw_audit_records_total", "counter", "Audit records written.", [("", Double(audit.records))])
        metric(
            "agw_audit_failures_total", "counter", "Audit records that could not be written.",
            [("", Double(audit.failures))])
        metric("agw_audit_fsyncs_total", "counter", "Audit fsync calls.", [("", Double(audit.fsyncs))])
        metric("agw_audit_fsync_seconds_total", "counter", "Time spent in audit fsync.", [("", audit.fsyncSeconds)])
        metric("agw_audit_healthy", "gauge", "1 when the audit log can be written.", [("", auditHealthy ? 1 : 0)])
        metric(
            "agw_queue_depth", "gauge", "Requests waiting for an upstream rate-limit slot.",
            queueDepths.map { ("{pool=\"\($0.pool)\",class=\"\($0.methodClass)\"}", Double($0.depth)) })
        metric("agw_connections_open", "gauge", "Open client connections.", [("", Double(openConnections))])
        metric(
            "agw_connections_refused_descriptors_total", "counter",
            "Clients closed at once because too few open-file descriptors were left for upstream connections and the audit log.",
            [("", Double(refusedForDescriptors))])
        metric(
            "agw_requests_suspended", "gauge", "Requests in flight (connection suspended).",
            [("", Double(suspendedRequests))])
        return text
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
