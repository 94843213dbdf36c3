import Foundation
import Policy
import Testing
import Upstream

@testable import Gateway

/// The secret-leak scan: mixed traffic with known secrets (including errors, denials, wrong and
/// misplaced credentials, upstream failures and a reload with a key rotation), then every byte the
/// gateway produced is searched for those secrets in every encoding they could take. Zero hits.
@Suite(.serialized, .offThePool) struct SecretLeakTests {
    static let policies = """
        policies:
          all:
            allow:
              - methods: [GET, POST, DELETE]
            deny:
              - operations: [DeleteDeployment]
          reader:
            allow:
              - methods: [GET]

        """

    /// The scanner itself finds a secret in each form, at each offset, and nothing in clean text:
    /// without this, "zero hits" could mean a blind scanner.
    @Test func scannerFindsEverySecretFormAtAnyOffset() {
        let secret = LeakSecret.random(prefix: "s-")
        var scanner = SecretScanner()
        scanner.add("secret", secret)
        let bytes = Array(secret.utf8)
        let forms: [String] = [
            "Authorization: Bearer agw_abc_\(secret)\r\n",
            "Authorization: Basic " + Data(Array("user:\(secret)".utf8)).base64EncodedString(),
            "x" + Data(Array("ab\(secret)".utf8)).base64EncodedString(),
            Data(Array("a\(secret)zz".utf8)).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"),
            "q=" + bytes.map { String(format: "%%%02X", $0) }.joined(),
            "q=" + bytes.map { String(format: "%%%02x", $0) }.joined(),
            "digest-of-nothing " + Crypto.hex(bytes),
            "message: wrong key (…\(secret.suffix(SecretScanner.fragmentLength)))",
            "prefix \(secret.prefix(SecretScanner.fragmentLength)) only",
        ]
        for form in forms {
            #expect(!scanner.scan("form", Array(form.utf8)).isEmpty, "not found in: \(form)")
        }
        let clean = "Authorization: Bearer agw_abc_\(LeakSecret.random(prefix: "s-"))"
        #expect(scanner.scan("clean", Array(clean.utf8)).isEmpty)
    }

    /// (a) The in-process gateway in front of the built-in simulator.
    @Test(.timeLimit(.minutes(1))) func inProcessGatewayLeaksNoSecret() async throws {
        let orgToken = LeakSecret.random(prefix: "org-")
        let auditKey = LeakSecret.random(prefix: "hmac-")
        let gateway = try TestGateway.start(
            upstream: nil, policies: Self.policies,
            environment: ["TEST_ORG_TOKEN": orgToken, "TEST_AUDIT_KEY": auditKey])
        defer { gateway.stop() }
        let keysPath = gateway.directory + "/keys.yaml"
        var store = try KeyStore.parse(yaml: String(contentsOfFile: keysPath, encoding: .utf8))
        let (_, readerKey) = store.generate(name: "reader-client", policy: "reader", now: Date())
        let (revoked, revokedKey) = store.generate(name: "revoked-client", policy: "all", now: Date())
        try store.revoke(id: revoked.id, now: Date())
        try store.yaml().write(toFile: keysPath, atomically: true, encoding: .utf8)
        try gateway.instance.reload()

        var keys = LeakKeys(all: gateway.key, reader: readerKey, revoked: revokedKey, retired: nil)
        let port = gateway.port
        let adminPort = gateway.adminPort
        var probes = await blocking { [keys] in
            LeakTraffic.run(port: port, adminPort: adminPort, keys: keys, orgToken: orgToken)
        }
        // Reload with the main key rotated (the old secret ends now), then the same traffic again.
        let allId = String(gateway.key.split(separator: "_")[1])
        let (_, rotatedKey) = try store.rotate(id: allId, grace: 0, now: Date())
        try store.yaml().write(toFile: keysPath, atomically: true, encoding: .utf8)
        try gateway.instance.reload()
        keys = LeakKeys(all: rotatedKey, reader: readerKey, revoked: revokedKey, retired: gateway.key)
        probes += await blocking { [keys] in
            LeakTraffic.run(port: port, adminPort: adminPort, keys: keys, orgToken: orgToken)
        }
        LeakTraffic.expectStatuses(probes)

        var scanner = SecretScanner()
        scanner.add(orgToken: orgToken, auditKey: auditKey, keys: keys, wrongSecrets: probes.flatMap(\.sentSecrets))
        var outputs = probes.map { ("response to \($0.label)", $0.bytes) }
        outputs += Self.auditSegments(gateway.directory + "/audit")
        let hits = outputs.flatMap { scanner.scan($0.0, $0.1) }
        #expect(hits.isEmpty, "\(hits)")
        Self.expectDigestsOnly(keysPath: keysPath, scanner: scanner, liveKeys: [rotatedKey, readerKey, revokedKey])
        #expect(outputs.count > 40 && outputs.allSatisfy { !$0.1.isEmpty })
    }

    /// (b) The real `serve` process with the simulator: keys made by the CLI, reload by SIGHUP,
    /// stdout and stderr captured, `audit verify` and `audit query` output scanned too.
    @Test(.timeLimit(.minutes(1))) func serveProcessLeaksNoSecret() async throws {
        let orgToken = LeakSecret.random(prefix: "org-")
        let auditKey = LeakSecret.random(prefix: "hmac-")
        let environment = ServeProcess.environment(orgToken: orgToken, auditKey: auditKey)
        let directory = try ServeProcess.makeDirectory(
            upstreamYAML: "simulate: true, pools: { default: { tokens: [ { id: org-main, env: TEST_ORG_TOKEN } ], "
                + "limits: { GET: 10000, POST: 10000, DELETE: 10000 } } }")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.policies.write(toFile: directory + "/policies.yaml", atomically: true, encoding: .utf8)
        let cli = CLI(directory: directory, environment: environment)
        let allKey = try await cli.createKey(name: "all-client", policy: "all")
        let readerKey = try await cli.createKey(name: "reader-client", policy: "reader")
        let revokedKey = try await cli.createKey(name: "revoked-client", policy: "all")
        #expect(try await cli.run(["keys", "revoke", Self.keyId(revokedKey)]).status == 0)

        let serve = try ServeProcess(directory: directory, run: 0, environment: environment)
        defer { serve.killNow() }
        try await serve.waitUntilReady()
        let port = serve.port
        let adminPort = serve.adminPort
        var keys = LeakKeys(all: allKey, reader: readerKey, revoked: revokedKey, retired: nil)
        var probes = await blocking { [keys] in
            LeakTraffic.run(port: port, adminPort: adminPort, keys: keys, orgToken: orgToken)
        }
        // Rotate the main key through the CLI (old secret ends now) and reload with SIGHUP.
        let rotation = try await cli.run(["keys", "rotate", Self.keyId(allKey), "--grace", "0s", "--json"])
        let rotatedKey = try #require(
            (try? JSONSerialization.jsonObject(with: Data(rotation.stdout)) as? [String: Any])?["key"] as? String,
            "keys rotate --json printed: \(String(decoding: rotation.stdout, as: UTF8.self))")
        serve.signal(SIGHUP)
        var reloaded = false
        for _ in 0..<100 where !reloaded {
            reloaded = await blocking {
                (try? rawRequest(
                    port: port, target: "/_gateway/whoami", headers: [("Authorization", "Bearer \(rotatedKey)")]
                ).status) == 200
            }
            if !reloaded { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(reloaded, "the rotated key never worked after SIGHUP")
        keys = LeakKeys(all: rotatedKey, reader: readerKey, revoked: revokedKey, retired: allKey)
        probes += await blocking { [keys] in
            LeakTraffic.run(port: port, adminPort: adminPort, keys: keys, orgToken: orgToken)
        }
        LeakTraffic.expectStatuses(probes)
        #expect(await serve.terminate() == 0)

        let verify = try await cli.run(["audit", "verify"])
        #expect(verify.status == 0, "\(String(decoding: verify.stdout + verify.stderr, as: UTF8.self))")
        let query = try await cli.run(["audit", "query", "--json"])
        #expect(query.status == 0)

        var scanner = SecretScanner()
        scanner.add(orgToken: orgToken, auditKey: auditKey, keys: keys, wrongSecrets: probes.flatMap(\.sentSecrets))
        var outputs = probes.map { ("response to \($0.label)", $0.bytes) }
        outputs += [("serve stdout", serve.stdout), ("serve stderr", serve.stderr)]
        outputs += [
            ("audit verify output", verify.stdout + verify.stderr), ("audit query output", query.stdout + query.stderr),
        ]
        outputs += Self.auditSegments(directory + "/audit")
        let hits = outputs.flatMap { scanner.scan($0.0, $0.1) }
        #expect(hits.isEmpty, "\(hits)")
        // The captured output is real: the startup and reload lines are there.
        let log = String(decoding: serve.stderr, as: UTF8.self)
        #expect(log.contains("listening on") && log.contains("reload: configuration 2 in effect"))
        #expect(String(decoding: query.stdout, as: UTF8.self).contains("\"phase\":\"intent\""))
        Self.expectDigestsOnly(
            keysPath: directory + "/keys.yaml", scanner: scanner, liveKeys: [rotatedKey, readerKey, revokedKey])
    }

    /// (c) What the gateway sends upstream: the org token only as `Authorization: Bearer <token>`,
    /// a local key never (not from `Authorization`, `Cookie`, `Proxy-Authorization`), and a
    /// redirect from the upstream is not followed (the token would go wherever it points).
    @Test(.timeLimit(.minutes(1))) func upstreamSeesTheOrgTokenOnlyAsItsBearerAndNeverALocalKey() async throws {
        let elsewhere = try RecordingUpstream()
        defer { elsewhere.stop() }
        let redirectTarget = elsewhere.baseURL + "/stolen"
        let upstream = try RecordingUpstream { request in
            if request.rawTarget.contains("redirect=1") {
                return ServerResponse(status: 302, headers: HeaderList([("Location", redirectTarget)]), body: [])
            }
            return ServerResponse(
                status: 200, headers: HeaderList([("Content-Type", "application/json")]), body: Array("{}".utf8))
        }
        defer { upstream.stop() }
        let orgToken = LeakSecret.random(prefix: "org-")
        let gateway = try TestGateway.start(
            upstream: upstream.baseURL, policies: Self.policies, environment: ["TEST_ORG_TOKEN": orgToken])
        defer { gateway.stop() }
        let key = gateway.key
        let port = gateway.port
        let statuses = await blocking {
            let credentials: [(String, String)] = [
                ("Authorization", "Bearer \(key)"), ("Cookie", "session=\(key)"),
                ("Proxy-Authorization", "Bearer \(key)"),
            ]
            return [
                (try? rawRequest(port: port, target: "/v1/organizations", headers: credentials).status) ?? 0,
                (try? rawRequest(
                    port: port, method: "POST", target: "/v1/organizations/clorg1/workspaces",
                    headers: credentials + [("Content-Type", "application/json")],
                    body: Array(#"{"name":"w","description":"d","cicdEnforcedDefault":false}"#.utf8)
                ).status) ?? 0,
                (try? rawRequest(
                    port: port, method: "DELETE", target: "/v1/organizations/clorg1/workspaces/clws1",
                    headers: credentials
                ).status) ?? 0,
                (try? rawRequest(port: port, target: "/v1/organizations?redirect=1", headers: credentials).status)
                    ?? 0,
            ]
        }
        #expect(statuses == [200, 200, 200, 302])
        var scanner = SecretScanner()
        scanner.add("local key secret", Self.secret(of: key))
        var tokenScanner = SecretScanner()
        tokenScanner.add("org token", orgToken)
        let received = upstream.received
        #expect(received.count == 4)
        for request in received {
            var text = "\(request.method) \(request.target)\r\n"
            var bearers = 0
            for field in request.headers {
                if field.name.lowercased() == "authorization" && field.value == "Bearer \(orgToken)" {
                    bearers += 1
                } else {
                    text += "\(field.name): \(field.value)\r\n"
                }
            }
            let bytes = Array(text.utf8) + request.body
            #expect(bearers == 1, "\(request.method) \(request.target): \(bearers) org-token bearers")
            #expect(scanner.scan("upstream request", bytes).isEmpty, "\(text)")
            #expect(tokenScanner.scan("upstream request, outside its bearer", bytes).isEmpty, "\(text)")
        }
        #expect(elsewhere.received.isEmpty, "the gateway followed a redirect with the org token")
    }

    // MARK: - Helpers

    static func keyId(_ key: String) -> String { String(key.split(separator: "_", maxSplits: 2)[1]) }
    static func secret(of key: String) -> String { String(key.split(separator: "_", maxSplits: 2)[2]) }

    static func auditSegments(_ directory: String) -> [(String, [UInt8])] {
        let names = AuditSegments.list(directory)
        #expect(!names.isEmpty, "no audit segment in \(directory)")
        return names.map {
            ("audit segment \($0)", Array(FileManager.default.contents(atPath: directory + "/" + $0) ?? Data()))
        }
    }

    /// The keys file holds no secret in any form, and each live key is there only as the SHA-256
    /// digest of its text.
    static func expectDigestsOnly(keysPath: String, scanner: SecretScanner, liveKeys: [String]) {
        let bytes = Array(FileManager.default.contents(atPath: keysPath) ?? Data())
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(scanner.scan("keys file", bytes).isEmpty)
        let digests = text.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- sha256:") else { return nil }
            return trimmed.dropFirst("- sha256:".count).trimmingCharacters(in: CharacterSet(charactersIn: " \""))
        }
        #expect(!digests.isEmpty)
        #expect(digests.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }, "\(digests)")
        for key in liveKeys {
            #expect(digests.contains(LocalKeyFormat.digest(ofKey: key)), "no digest for key \(keyId(key))")
        }
    }
}

/// A secret for one test run: long and random, so a hit can only be a leak.
enum LeakSecret {
    static func random(prefix: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return prefix + String((0..<40).map { _ in alphabet.randomElement()! })
    }
}

/// The local keys in play during one round of traffic.
struct LeakKeys: Sendable {
    var all: String
    var reader: String
    var revoked: String
    /// The main key's previous text after a rotation with no grace.
    var retired: String?
}

/// One request of the mixed traffic and what came back, every byte of it.
struct LeakProbe: Sendable {
    let label: String
    let expected: Set<Int>
    let status: Int
    /// The response as seen on the wire: status, every header, body (admin answers too).
    let bytes: [UInt8]
    /// Credentials this probe made up (wrong secrets): echoing those would be a leak as well.
    let sentSecrets: [String]
}

/// The mixed traffic the scan covers: allowed reads and writes, every kind of refusal, wrong and
/// misplaced credentials, malformed targets, upstream errors, and the admin endpoints.
enum LeakTraffic {
    static func run(port: Int, adminPort: Int, keys: LeakKeys, orgToken: String) -> [LeakProbe] {
        var probes: [LeakProbe] = []
        let bearer = ("Authorization", "Bearer \(keys.all)")
        let json = ("Content-Type", "application/json")
        let workspace = Array(#"{"name":"leak","description":"d","cicdEnforcedDefault":false}"#.utf8)
        func probe(
            _ label: String, _ expected: Set<Int>, method: String = "GET", target: String,
            headers: [(String, String)] = [], body: [UInt8] = [], to server: Int? = nil, made: [String] = []
        ) -> RawHTTPResponse? {
            let response = try? rawRequest(
                port: server ?? port, method: method, target: target, headers: headers, body: body)
            var wire = "HTTP/1.1 \(response?.status ?? 0)\r\n"
            for (name, value) in response?.headers ?? [] { wire += "\(name): \(value)\r\n" }
            probes.append(
                LeakProbe(
                    label: label, expected: expected, status: response?.status ?? 0,
                    bytes: Array((wire + "\r\n").utf8) + (response?.body ?? []), sentSecrets: made))
            return response
        }
        let wrongSecret = LeakSecret.random(prefix: "")
        let keyId = SecretLeakTests.keyId(keys.all)

        _ = probe("list organizations", [200], target: "/v1/organizations", headers: [bearer])
        _ = probe("list deployments", [200], target: "/v1/organizations/clorg1/deployments?limit=5", headers: [bearer])
        let created = probe(
            "create workspace", [200], method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [bearer, json], body: workspace)
        if let id = created?.json?["id"] as? String {
            _ = probe(
                "delete workspace", [200, 204], method: "DELETE",
                target: "/v1/organizations/clorg1/workspaces/\(id)", headers: [bearer])
        }
        _ = probe("whoami", [200], target: "/_gateway/whoami", headers: [bearer])
        _ = probe(
            "key also in cookie and proxy-authorization", [200], target: "/v1/organizations",
            headers: [bearer, ("Cookie", "k=\(keys.all)"), ("Proxy-Authorization", "Bearer \(keys.all)")])
        _ = probe(
            "denied delete", [403], method: "DELETE", target: "/v1/organizations/clorg1/deployments/cldep1",
            headers: [bearer])
        _ = probe(
            "reader writes", [403], method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [("Authorization", "Bearer \(keys.reader)"), json], body: workspace)
        _ = probe(
            "wrong secret", [401], target: "/v1/organizations",
            headers: [("Authorization", "Bearer agw_\(keyId)_\(wrongSecret)")], made: [wrongSecret])
        _ = probe(
            "org token as bearer", [401], target: "/v1/organizations",
            headers: [("Authorization", "Bearer \(orgToken)")])
        _ = probe(
            "org token as basic", [401], target: "/v1/organizations",
            headers: [("Authorization", "Basic " + Data(Array("\(orgToken):".utf8)).base64EncodedString())])
        _ = probe(
            "key as basic", [401], target: "/v1/organizations",
            headers: [("Authorization", "Basic " + Data(Array("\(keys.all):".utf8)).base64EncodedString())])
        _ = probe("key without scheme", [401], target: "/v1/organizations", headers: [("Authorization", keys.all)])
        _ = probe(
            "key with trailing space", [401], target: "/v1/organizations",
            headers: [("Authorization", "Bearer \(keys.all) ")])
        _ = probe("key twice", [400, 401], target: "/v1/organizations", headers: [bearer, bearer])
        _ = probe(
            "revoked key", [401], target: "/v1/organizations", headers: [("Authorization", "Bearer \(keys.revoked)")])
        if let retired = keys.retired {
            _ = probe(
                "rotated-out key", [401], target: "/v1/organizations", headers: [("Authorization", "Bearer \(retired)")]
            )
        }
        _ = probe("no key", [401], target: "/v1/organizations")
        _ = probe(
            "whoami wrong secret", [401], target: "/_gateway/whoami",
            headers: [("Authorization", "Bearer agw_\(keyId)_\(wrongSecret)")], made: [wrongSecret])
        _ = probe("unknown route", [404], target: "/v1/nothing-here", headers: [bearer])
        _ = probe("upstream 404", [404], target: "/v1/organizations/clorg1/deployments/nope", headers: [bearer])
        _ = probe("dot segments", [400], target: "/v1/organizations/clorg1/%2e%2e/x", headers: [bearer])
        _ = probe("bad percent escape", [400], target: "/v1/organizations/clorg1/deployments/%zz", headers: [bearer])
        _ = probe(
            "bad max wait", [400], target: "/v1/organizations", headers: [bearer, ("X-Gateway-Max-Wait", "soon")])
        _ = probe(
            "upstream 500 on a read", [500], target: "/v1/organizations/clorg1/deployments",
            headers: [bearer, ("X-Simulator-Fault", "status=500")])
        _ = probe(
            "upstream 500 on a write", [500], method: "POST", target: "/v1/organizations/clorg1/workspaces",
            headers: [bearer, json, ("X-Simulator-Fault", "status=500")], body: workspace)
        _ = probe("healthz", [200], target: "/healthz", to: adminPort)
        _ = probe("readyz", [200], target: "/readyz", to: adminPort)
        // The admin listener serves /metrics once metrics exist; a 404 is scanned all the same.
        _ = probe("metrics", [200, 404], target: "/metrics", to: adminPort)
        return probes
    }

    /// Each probe got the answer its case calls for: the traffic really covered what it claims.
    static func expectStatuses(_ probes: [LeakProbe]) {
        for probe in probes {
            #expect(probe.expected.contains(probe.status), "\(probe.label): \(probe.status)")
        }
        #expect(probes.contains { $0.label == "delete workspace" }, "the created workspace had no id to delete")
    }
}

/// Every form in which a secret could show up in output: as is; base64 and base64url at each of
/// the three byte alignments (so it is found inside a longer encoded value such as a Basic
/// credential); percent-encoded byte by byte in either hex case; and hex.
struct SecretScanner: Sendable {
    struct Needle: Sendable {
        let secret: String
        let form: String
        let bytes: Data
    }

    struct Hit: Sendable, CustomStringConvertible {
        let source: String
        let secret: String
        let form: String
        let offset: Int
        var description: String { "\(secret) (\(form)) in \(source) at byte \(offset)" }
    }

    private(set) var needles: [Needle] = []
    /// Secrets here are ≥ 40 random base62 characters: 16 of them (~95 bits) never occur by chance.
    static let fragmentLength = 16

    mutating func add(_ name: String, _ secret: String) {
        let bytes = Array(secret.utf8)
        var forms: [(String, String)] = [("plain", secret)]
        for (alignment, run) in Self.base64Runs(bytes).enumerated() {
            forms.append(("base64@\(alignment)", run))
            forms.append(
                (
                    "base64url@\(alignment)",
                    run.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                ))
        }
        forms.append(("percent", bytes.map { String(format: "%%%02X", $0) }.joined()))
        forms.append(("percent-lower", bytes.map { String(format: "%%%02x", $0) }.joined()))
        if let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded != secret {
            forms.append(("percent-minimal", encoded))
        }
        // A fragment gives a secret away too (and shrinks what is left to guess): every run of
        // `fragmentLength` characters of the plain secret is searched for as well.
        if bytes.count > Self.fragmentLength {
            for start in 0...(bytes.count - Self.fragmentLength) {
                let fragment = String(decoding: bytes[start..<(start + Self.fragmentLength)], as: UTF8.self)
                forms.append(("fragment@\(start)", fragment))
            }
        }
        forms.append(("hex", Crypto.hex(bytes)))
        forms.append(("HEX", Crypto.hex(bytes).uppercased()))
        for (form, text) in forms { needles.append(Needle(secret: name, form: form, bytes: Data(text.utf8))) }
    }

    /// The secrets of one test: the org token, the audit HMAC key, each local key's secret part,
    /// and the made-up secrets the traffic sent.
    mutating func add(orgToken: String, auditKey: String, keys: LeakKeys, wrongSecrets: [String]) {
        add("org token", orgToken)
        add("audit HMAC key", auditKey)
        add("main key secret", SecretLeakTests.secret(of: keys.all))
        add("reader key secret", SecretLeakTests.secret(of: keys.reader))
        add("revoked key secret", SecretLeakTests.secret(of: keys.revoked))
        if let retired = keys.retired { add("rotated-out key secret", SecretLeakTests.secret(of: retired)) }
        for wrong in Set(wrongSecrets) { add("made-up secret", wrong) }
    }

    /// At most one hit per secret per source (its first matching form), so a report stays readable.
    func scan(_ source: String, _ bytes: [UInt8]) -> [Hit] {
        let data = Data(bytes)
        var hits: [Hit] = []
        for needle in needles where !hits.contains(where: { $0.secret == needle.secret }) {
            if let range = data.range(of: needle.bytes) {
                hits.append(Hit(source: source, secret: needle.secret, form: needle.form, offset: range.lowerBound))
            }
        }
        return hits
    }

    /// The base64 characters that depend only on the secret's bits, for each of the three ways
    /// the secret can line up with base64's 3-byte groups inside a longer value.
    static func base64Runs(_ bytes: [UInt8]) -> [String] {
        (0..<3).map { lead in
            let encoded = Array(Data([UInt8](repeating: 0, count: lead) + bytes).base64EncodedString())
            let first = (8 * lead + 5) / 6
            let end = (8 * (lead + bytes.count)) / 6
            return String(encoded[first..<end])
        }
    }
}

/// Runs `astro-gateway <subcommand> --config <dir>/gateway.yaml` and captures its output.
struct CLI {
    let directory: String
    let environment: [String: String]

    /// Waits by polling, so no cooperative thread blocks on the child.
    func run(_ arguments: [String]) async throws -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.binary)
        process.arguments = arguments + ["--config", directory + "/gateway.yaml"]
        process.environment = environment
        let out = directory + "/cli-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out + ".stdout", contents: nil)
        _ = FileManager.default.createFile(atPath: out + ".stderr", contents: nil)
        let stdout = try FileHandle(forWritingTo: URL(fileURLWithPath: out + ".stdout"))
        let stderr = try FileHandle(forWritingTo: URL(fileURLWithPath: out + ".stderr"))
        defer {
            try? stdout.close()
            try? stderr.close()
            try? FileManager.default.removeItem(atPath: out + ".stdout")
            try? FileManager.default.removeItem(atPath: out + ".stderr")
        }
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        if process.isRunning { process.terminate() }
        return (
            process.terminationStatus, Array(FileManager.default.contents(atPath: out + ".stdout") ?? Data()),
            Array(FileManager.default.contents(atPath: out + ".stderr") ?? Data())
        )
    }

    /// `keys create --json`: the plaintext key, printed once.
    func createKey(name: String, policy: String) async throws -> String {
        let result = try await run(["keys", "create", "--name", name, "--policy", policy, "--json"])
        guard result.status == 0,
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any],
            let key = object["key"] as? String
        else { throw ServeProcessError.exited(result.status, String(decoding: result.stderr, as: UTF8.self)) }
        return key
    }
}
