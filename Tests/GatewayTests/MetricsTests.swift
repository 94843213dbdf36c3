import Foundation
import Testing

/// `/metrics` parses as Prometheus text and its counters match the traffic sent.
@Suite(.serialized, .offThePool) struct MetricsTests {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    /// A strict parser for the text exposition format: HELP/TYPE lines and `name{labels} value`.
    static func parse(_ text: String) throws -> [Sample] {
        var samples: [Sample] = []
        var typed: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") { continue }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                try #require(
                    parts.count == 4 && ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]))
                typed.insert(String(parts[2]))
                continue
            }
            try #require(!line.hasPrefix("#"))
            let valueStart = try #require(line.lastIndex(of: " "))
            let value = try #require(Double(line[line.index(after: valueStart)...]), "\(line)")
            let head = line[..<valueStart]
            var name = String(head)
            var labels: [String: String] = [:]
            if let brace = head.firstIndex(of: "{") {
                name = String(head[..<brace])
                try #require(head.hasSuffix("}"))
                let body = head[head.index(after: brace)..<head.index(before: head.endIndex)]
                var rest = Substring(body)
                while !rest.isEmpty {
                    let eq = try #require(rest.firstIndex(of: "="))
                    let key = String(rest[..<eq])
                    rest = rest[rest.index(after: eq)...]
                    try #require(rest.first == "\"")
                    rest = rest.dropFirst()
                    let close = try #require(rest.firstIndex(of: "\""))
                    labels[key] = String(rest[..<close])
                    rest = rest[rest.index(after: close)...]
                    if rest.first == "," { rest = rest.dropFirst() }
                }
            }
            try #require(name.range(of: "^[a-zA-Z_:][a-zA-Z0-9_:]*$", options: .regularExpression) != nil, "\(name)")
            let base = name.replacingOccurrences(of: "_bucket", with: "").replacingOccurrences(of: "_sum", with: "")
                .replacingOccurrences(of: "_count", with: "")
            try #require(typed.contains(name) || typed.contains(base), "no TYPE for \(name)")
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        return samples
    }

    @Test func countersMatchTheTrafficAndNoSecretAppears() throws {
        let gateway = try TestGateway.start(
            upstream: nil,
            policies: "policies:\n  all:\n    allow:\n      - methods: [GET]\n")
        defer { gateway.stop() }
        for _ in 0..<3 { _ = try rawRequest(port: gateway.port, target: "/v1/users/self", headers: [gateway.auth]) }
        _ = try rawRequest(
            port: gateway.port, method: "DELETE", target: "/v1/organizations/clorg1/workspaces/x",
            headers: [gateway.auth])
        _ = try rawRequest(port: gateway.port, target: "/v1/users/self")
        let response = try rawRequest(port: gateway.adminPort, target: "/metrics")
        #expect(response.status == 200)
        #expect(response.header("content-type")?.hasPrefix("text/plain") == true)
        let samples = try Self.parse(response.text)
        func total(_ name: String, _ where_: [String: String]) -> Double {
            var sum = 0.0
            for sample in samples where sample.name == name && where_.allSatisfy({ sample.labels[$0.key] == $0.value })
            {
                sum += sample.value
            }
            return sum
        }
        #expect(
            total("agw_requests_total", ["decision": "allow", "operation": "GetSelfUser", "key": "test-client"]) == 3)
        #expect(total("agw_requests_total", ["decision": "deny", "status": "403"]) == 1)
        #expect(total("agw_requests_total", ["decision": "unauthenticated", "status": "401"]) == 1)
        #expect(total("agw_upstream_requests_total", ["token": "org-main", "class": "GET", "status": "200"]) == 3)
        #expect(total("agw_request_duration_seconds_count", [:]) == 5)
        #expect(total("agw_audit_records_total", [:]) >= 5)
        #expect(total("agw_audit_healthy", [:]) == 1)
        #expect(samples.contains { $0.name == "agw_queue_depth" && $0.labels["class"] == "POST" })
        #expect(!response.text.contains(TestGateway.orgToken))
        #expect(!response.text.contains(String(gateway.key.split(separator: "_")[2])))
    }
}
