import Testing

@testable import Policy

/// Inputs that exercised edge cases in the fuzz body; each must keep running without a trap.
/// (Crashes found by `PolicyFuzz` are added here as regression inputs.)
@Suite struct FuzzRegressionTests {
    static let corpus: [[UInt8]] = [
        [],
        [0],
        [0, 0x0A],
        Array("\u{0}/v1/organizations/org1/deployments?workspaceIds=ws1\n{\"workspaceId\":\"ws1\"}".utf8),
        Array("\u{1}/v1/organizations/org1/deployments\n{\"workspaceId\":".utf8),
        Array("\u{2}/v1/organizations/org1/deployments/dep1\n".utf8),
        Array("\u{0}/v1/organizations/org1/workspaces/ws3".utf8),
        Array("\u{0}/v1/organizations/%\n".utf8),
        Array("\u{0}/v1/organizations?%".utf8),
        Array("\u{0}/v1/organizations?workspaceIds=%".utf8),
        Array("\u{0}/v1/organizations?%%%%%%%".utf8),
        Array("\u{0}agw_a_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".utf8),
        Array("\u{0}Bearer \n".utf8),
        [0, 0x2F, 0x76, 0x31, 0x2F, 0xFF, 0xFE, 0x0A, 0xFF],
        [0, 0x0A] + Array(repeating: UInt8(ascii: "["), count: 10_000),
        [0, 0x0A] + Array("{\"a\":\"\\u".utf8),
        [0, 0x0A] + Array("{\"a\":\"\\ud800\\u".utf8),
        [0, 0x0A] + Array("-".utf8),
        [0, 0x0A] + Array("{\"a\":1e".utf8),
    ]

    @Test(arguments: corpus)
    func runsWithoutTrapping(input: [UInt8]) {
        PolicyFuzzing.fuzzOne(input)
    }

    @Test func fuzzPolicyCompiles() {
        #expect(PolicyFuzzing.policies.policyNames == ["fuzz", "fuzz-shadow"])
    }
}
