import Foundation
import Gateway
import Policy
import Testing
import Upstream

/// Keys and policies end to end: a scoped key reaches exactly what its policy names, by any
/// spelling of target, method or headers; the recording upstream sees none of the rest.
@Suite(.serialized, .offThePool) struct AccessControlTests {
    static let policies = """
        policies:
          all:
            allow:
              - methods: [GET, POST, DELETE]
          scoped:
            allow:
              - operations: [ListDeployments, GetDeployment, UpdateDeployment]
                where: { organizationId: [clorg1], deploymentId: ["*"] }
              - operations: [ListWorkspaces]
                where: { organizationId: [clorg1] }
            deny:
              - operations: [UpdateDeployment, GetDeployment]
                where: { deploymentId: [cldepprod] }
          watcher:
            mode: shadow
            allow:
              - operations: [ListDeployments]
                where: { organizationId: [clorg1] }
        """

    /// The upstream answers 200 to anything; tests assert on what reached it.
    func start(policy: String) throws -> (RecordingUpstream, TestGateway) {
        let upstream = try RecordingUpstream()
        let gateway = try TestGateway.start(upstream: upstream.baseURL, policies: Self.policies, keyPolicy: policy)
        return (upstream, gateway)
    }

    @Test func unauthenticatedRequestsAre401WithTheReason() throws {
        let (upstream, gateway) = try start(policy: "scoped")
        defer {
            gateway.stop()
            upstream.stop()
        }
        let target = "/v1/organizations/clorg1/deployments"
        let keyId = String(gateway.key.split(separator: "_")[1])
        let cases: [([(String, String)], String)] = [
            ([], "missing"),
            ([("Authorization", "Basic dXNlcjpwYXNz")], "not a Bearer"),
            ([("Authorization", "Bearer \(TestGateway.orgToken)")], "not a gateway key"),
            (
                [("Authorization", "Bearer agw_zzzzzzzzzzzz_\(String(repeating: "a", count: 52))")],
                "unknown key or wrong secret"
            ),
            (
                [("Authorization", "Bearer agw_\(keyId)_\(String(repeating: "a", count: 52))")],
                "unknown key or wrong secret"
            ),
        ]
        for (headers, reason) in cases {
            let r = try rawRequest(port: gateway.port, target: target, headers: headers)
            #expect(r.status == 401, "\(reason)")
            #expect(r.message.contains(reason), "\(r.text)")
            #expect(r.json?["requestId"] as? String == r.header("x-gateway-request-id"))
            #expect(!r.text.contains(gateway.key) && !r.text.contains(TestGateway.orgToken))
        }
        let twice = try rawRequest(port: gateway.port, target: target, headers: [gateway.auth, gateway.auth])
        #expect(twice.status == 400)
        #expect(twice.message.contains("Authorization"))
        #expect(upstream.received.isEmpty)
    }

    @Test func scopedKeyReachesOnlyWhatItsPolicyNames() throws {
        let (upstream, gateway) = try start(policy: "scoped")
        defer {
            gateway.stop()
            upstream.stop()
        }
        let allowed = [
            ("GET", "/v1/organizations/clorg1/deployments"),
            ("GET", "/v1/organizations/clorg1/deployments/cldep1"),
            ("POST", "/v1/organizations/clorg1/deployments/cldep1"),
            ("GET", "/v1/organizations/clorg1/workspaces?limit=5"),
        ]
        for (method, target) in allowed {
            let r = try rawRequest(
                port: gateway.port, method: method, target: target, headers: [gateway.auth], body: Array("{}".utf8))
            #expect(r.status == 200, "\(method) \(target): \(r.text)")
        }
        #expect(upstream.received.map(\.target) == allowed.map(\.1))

        let denied = try rawRequest(
            port: gateway.port, method: "POST", target: "/v1/organizations/clorg1/deployments/cldepprod",
            headers: [gateway.auth], body: Array("{}".utf8))
        #expect(denied.status == 403)
        #expect(denied.message.contains("scoped.deny[0]"))
        let other = try rawRequest(
            port: gateway.port, target: "/v1/organizations/clother/deployments", headers: [gateway.auth])
        #expect(other.status == 403)
        #expect(other.message.contains("no rule allows ListDeployments"))
        #expect(upstream.received.count == allowed.count)
    }

    /// At least 100 spellings drawn from known path-confusion bugs (nginx merge_slashes and
    /// alias traversal, Envoy %2F and backslash normalization, Kong/Spring `;` matrix parameters,
    /// double encoding, absolute-form targets, method overrides, header smuggling). None may reach
    /// the upstream, whatever status the gateway picks for it.
    @Test func pathConfusionCorpusNeverReachesUpstream() throws {
        let (upstream, gateway) = try start(policy: "scoped")
        defer {
            gateway.stop()
            upstream.stop()
        }
        let forbiddenTargets = [
            "/organizations/clother/deployments", "/organizations/clorg1/clusters",
            "/organizations/clorg1/deployments/cldepprod", "/organizations/clorg1/tokens",
        ]
        var corpus: [(String, String, [(String, String)])] = []
        for base in forbiddenTargets {
            let segs = base.split(separator: "/").map(String.init)
            let last = segs.last!
            let prefix = "/v1/" + segs.dropLast().joined(separator: "/")
            var spellings: [String] = []
            spellings += ["/v1" + base, "/v1/" + base, "//v1" + base, "/v1//" + base.dropFirst(), "/v1" + base + "/"]
            spellings += ["/v1" + base + "/.", "/v1" + base + "/..", "/v1/./" + base.dropFirst()]
            spellings += [
                "/v1/organizations/clorg1/../" + base.split(separator: "/").dropFirst(0).joined(separator: "/")
            ]
            spellings += ["/v1/organizations/clorg1/deployments/../../" + segs.dropFirst().joined(separator: "/")]
            spellings += ["/v1/organizations/clorg1/deployments/..%2f..%2f" + segs.dropFirst().joined(separator: "%2f")]
            spellings += [
                "/v1/organizations/clorg1/deployments/%2e%2e/%2e%2e/" + segs.dropFirst().joined(separator: "/")
            ]
            spellings += ["/v1/organizations/clorg1/deployments/%252e%252e/" + last]
            spellings += [prefix + "/" + last + ";x=1", prefix + ";/" + last, prefix + "/" + last + "%3b"]
            spellings += [prefix.replacingOccurrences(of: "/", with: "\\") + "\\" + last, prefix + "\\" + last]
            spellings += [prefix + "/" + last + "%00", prefix + "/" + last + "%00/../deployments"]
            spellings += [prefix + "%2f" + last, prefix + "%2F" + last, prefix + "%5c" + last]
            spellings += [prefix + "/" + last + "#/organizations/clorg1/deployments"]
            spellings += [
                "http://127.0.0.1/v1" + base, "http://api.astronomer.io/v1" + base, "//api.astronomer.io/v1" + base,
            ]
            spellings += [prefix + "/" + last.uppercased(), prefix + "/" + last + "%20"]
            spellings += [prefix + "/\u{212A}" + last, prefix + "/" + last + "\t"]
            for s in spellings { corpus.append(("GET", s, [])) }
        }
        // Allowed-looking paths smuggling a different method or target through headers.
        let overrides = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"]
        for h in overrides {
            corpus.append(("GET", "/v1/organizations/clorg1/deployments/cldep1", [(h, "DELETE")]))
            corpus.append(("POST", "/v1/organizations/clorg1/deployments/cldep1", [(h, "DELETE")]))
        }
        corpus.append(("GET", "/v1/organizations/clorg1/deployments", [("Host", "evil"), ("Host", "x")]))
        corpus.append(
            ("GET", "/v1/organizations/clorg1/deployments", [("X-Original-URL", "/v1/organizations/clorg1/tokens")]))
        corpus.append(("DELETE", "/v1/organizations/clorg1/deployments/cldep1", []))
        corpus.append(("PUT", "/v1/organizations/clorg1/deployments/cldep1", []))
        corpus.append(("PATCH", "/v1/organizations/clorg1/deployments/cldep1", []))
        corpus.append(("OPTIONS", "/v1/organizations/clorg1/deployments", []))
        corpus.append(("TRACE", "/v1/organizations/clorg1/deployments", []))
        corpus.append(("GET", "*", []))
        corpus.append(("CONNECT", "api.astronomer.io:443", []))
        #expect(corpus.count >= 100)

        var statuses: [Int: Int] = [:]
        for (method, target, extra) in corpus {
            let before = upstream.received.count
            let connection = try RawHTTPConnection(port: gateway.port, timeoutSeconds: 5)
            var head = "\(method) \(target) HTTP/1.1\r\n"
            if !extra.contains(where: { $0.0 == "Host" }) { head += "Host: 127.0.0.1\r\n" }
            for (n, v) in extra + [gateway.auth] { head += "\(n): \(v)\r\n" }
            head += "Content-Length: 0\r\n\r\n"
            connection.write(head)
            let status = (try? connection.readResponse().status) ?? 0
            statuses[status, default: 0] += 1
            let reached = upstream.received.count > before
            // Header overrides on an allowed request may pass only if they were stripped, never honoured.
            if reached {
                let seen = upstream.received.last!
                #expect(seen.method == method, "\(method) \(target) reached upstream as \(seen.method)")
                #expect(
                    seen.target == "/v1/organizations/clorg1/deployments/cldep1"
                        || seen.target == "/v1/organizations/clorg1/deployments",
                    "\(method) \(target) reached upstream as \(seen.target)")
                #expect(overrides.allSatisfy { seen.headers[$0] == nil })
                #expect(seen.headers["x-original-url"] == nil || seen.target == "/v1/organizations/clorg1/deployments")
            }
        }
        let reachedTargets = Set(upstream.received.map(\.target))
        for forbidden in forbiddenTargets { #expect(!reachedTargets.contains("/v1" + forbidden)) }
        #expect(upstream.received.allSatisfy { $0.method != "DELETE" })
    }

    @Test func shadowModePassesAndRecordsTheWouldBeDenial() throws {
        let (upstream, gateway) = try start(policy: "watcher")
        defer {
            gateway.stop()
            upstream.stop()
        }
        let r = try rawRequest(port: gateway.port, target: "/v1/organizations/clorg1/clusters", headers: [gateway.auth])
        #expect(r.status == 200)
        #expect(upstream.received.count == 1)
    }

    @Test func whoamiListsIdentityAndGrants() throws {
        let (upstream, gateway) = try start(policy: "scoped")
        defer {
            gateway.stop()
            upstream.stop()
        }
        let r = try rawRequest(port: gateway.port, target: "/_gateway/whoami", headers: [gateway.auth])
        #expect(r.status == 200)
        let json = try #require(r.json)
        #expect(json["policy"] as? String == "scoped")
        #expect(json["name"] as? String == "test-client")
        let ops = (json["allowedOperations"] as? [[String: Any]] ?? []).compactMap { $0["operationId"] as? String }
        #expect(Set(ops) == ["ListDeployments", "GetDeployment", "UpdateDeployment", "ListWorkspaces"])
        #expect(!r.text.contains(gateway.key.split(separator: "_").last!))
        let anonymous = try rawRequest(port: gateway.port, target: "/_gateway/whoami")
        #expect(anonymous.status == 401)
        #expect(upstream.received.isEmpty)
    }
}
