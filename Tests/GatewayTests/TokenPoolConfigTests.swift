import Foundation
import Gateway
import Testing

/// Astro's rate limits are per org token and each token entry is paced on its own, so one token
/// listed twice (in two pools, or twice in one) would be allowed twice the limit. Resolving the
/// pools refuses that, naming both entries and never the token.
@Suite struct TokenPoolConfigTests {
    static let secret = "astro-org-token-3f9a1c"

    func config(pools: String) throws -> GatewayConfig {
        try GatewayConfig.parse(
            text: "upstream:\n  simulate: true\n  pools:\n\(pools)audit: { integrity: none }\n",
            file: "/etc/agw/gateway.yaml")
    }

    func refusal(_ pools: String, environment: [String: String]) throws -> String? {
        let config = try config(pools: pools)
        do {
            _ = try config.resolveTokens(environment: environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func distinctTokensInSeveralPoolsAreAccepted() throws {
        let pools = """
                default: { tokens: [ { id: a, env: T_A }, { id: b, env: T_B } ] }
                batch: { tokens: [ { id: c, env: T_C } ] }

            """
        let resolved = try config(pools: pools).resolveTokens(environment: ["T_A": "1", "T_B": "2", "T_C": "3"])
        #expect(resolved["default"]?.map(\.id) == ["a", "b"])
        #expect(resolved["batch"]?.map(\.secret) == ["3"])
    }

    @Test(arguments: [
        // The same token under two variables, in two pools.
        (
            "    default: { tokens: [ { id: main, env: T_A } ] }\n    batch: { tokens: [ { id: copy, env: T_B } ] }\n",
            "upstream.pools.default.tokens[id=main]", "upstream.pools.batch.tokens[id=copy]"
        ),
        // The same variable twice.
        (
            "    default: { tokens: [ { id: main, env: T_A } ] }\n    ops: { tokens: [ { id: again, env: T_A } ] }\n",
            "upstream.pools.default.tokens[id=main]", "upstream.pools.ops.tokens[id=again]"
        ),
        // Twice in one pool under two ids.
        (
            "    default: { tokens: [ { id: one, env: T_A }, { id: two, env: T_B } ] }\n",
            "upstream.pools.default.tokens[id=one]", "upstream.pools.default.tokens[id=two]"
        ),
    ])
    func oneTokenListedTwiceIsRefusedNamingBothEntries(pools: String, first: String, second: String) throws {
        let message = try #require(
            try refusal(pools, environment: ["T_A": Self.secret, "T_B": Self.secret]), "the duplicate was accepted")
        #expect(message.contains(first), "\(message)")
        #expect(message.contains(second), "\(message)")
        #expect(message.contains("rate limits are per token"), "\(message)")
        #expect(!message.contains(Self.secret), "the error printed the token")
        #expect(!message.contains("3f9a1c"), "the error printed part of the token")
    }

    /// Through the CLI: `config check` exits non-zero with the reason, and never prints the token.
    @Test(.offThePool) func configCheckRefusesItWithoutPrintingTheToken() async throws {
        let directory = try ServeProcess.makeDirectory(
            upstreamYAML: "simulate: true, pools: { default: { tokens: [ { id: main, env: TEST_ORG_TOKEN } ] }, "
                + "batch: { tokens: [ { id: copy, env: TEST_ORG_TOKEN_COPY } ] } }")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "policies: { reader: { allow: [ { methods: [GET] } ] } }".write(
            toFile: directory + "/policies.yaml", atomically: true, encoding: .utf8)
        var environment = ServeProcess.environment(orgToken: Self.secret)
        environment["TEST_ORG_TOKEN_COPY"] = Self.secret
        let result = try await CLI(directory: directory, environment: environment).run(["config", "check"])
        let output = String(decoding: result.stdout + result.stderr, as: UTF8.self)
        #expect(result.status != 0, "\(output)")
        #expect(output.contains("upstream.pools.default.tokens[id=main]"), "\(output)")
        #expect(output.contains("upstream.pools.batch.tokens[id=copy]"), "\(output)")
        #expect(!output.contains(Self.secret))
        environment["TEST_ORG_TOKEN_COPY"] = Self.secret + "-other"
        let cli = CLI(directory: directory, environment: environment)
        _ = try await cli.createKey(name: "reader", policy: "reader")
        let fixed = try await cli.run(["config", "check"])
        #expect(fixed.status == 0, "\(String(decoding: fixed.stdout + fixed.stderr, as: UTF8.self))")
    }
}
