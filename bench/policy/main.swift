// Decisions per second against key count and rule count (issue 3): authenticate + normalize +
// decide for one request, with 10 / 1,000 / 100,000 keys and policies of 10 to 1,000 rules.
// Reports ratios against the smallest setup from the same run; absolute numbers on a shared
// 2-core machine mean little.
import Foundation
import Policy

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func policyYAML(rules: Int) -> String {
    var text = "policies:\n  bench:\n    allow:\n"
    for i in 0..<rules {
        text +=
            "      - operations: [GetDeployment]\n        where: { organizationId: [org\(i)], deploymentId: [\"*\"] }\n"
    }
    text += "    deny:\n      - operations: [DeleteDeployment]\n"
    return text
}

let iterations = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 20000
let rounds = 5
let normalizer = TargetNormalizer()
let keyCounts = [10, 1000, 100_000]
let ruleCounts = [10, 100, 1000]
var stores: [Int: (store: KeyStore, sample: String)] = [:]
for keyCount in keyCounts {
    var store = try KeyStore()
    var sample = ""
    for i in 0..<keyCount {
        let (_, key) = store.generate(name: "k\(i)", policy: "bench", now: Date())
        if i == keyCount / 2 { sample = key }
    }
    stores[keyCount] = (store, sample)
}
var policySets: [Int: PolicySet] = [:]
for ruleCount in ruleCounts { policySets[ruleCount] = try PolicySet.parse(yaml: policyYAML(rules: ruleCount)) }

/// One measurement: `iterations` decisions for one setup, in decisions per second.
@MainActor func measure(keys keyCount: Int, rules ruleCount: Int) -> Double {
    let (store, sample) = stores[keyCount]!
    let policies = policySets[ruleCount]!
    // The matching rule is the last one: the worst case for a linear rule scan.
    let target = "/v1/organizations/org\(ruleCount - 1)/deployments/cldep1"
    let headers = ["Bearer \(sample)"]
    var allowed = 0
    let start = now()
    for _ in 0..<iterations {
        guard case .authenticated(let key) = store.authenticate(authorizationHeaderValues: headers, now: Date()),
            let request = try? normalizer.normalize(method: "GET", rawTarget: target)
        else { continue }
        if policies.decide(policyName: key.policy, request: request, body: nil, explain: false).effect == .allow {
            allowed += 1
        }
    }
    let elapsed = now() - start
    precondition(allowed == iterations, "every decision must allow")
    return Double(iterations) / elapsed
}

// Setups interleaved over several rounds, best of each kept: on a shared machine, drift in
// its load would otherwise land on whichever setup ran last.
var best: [String: Double] = [:]
for _ in 0..<rounds {
    for keyCount in keyCounts {
        for ruleCount in ruleCounts {
            let id = "\(keyCount)/\(ruleCount)"
            best[id] = max(best[id] ?? 0, measure(keys: keyCount, rules: ruleCount))
        }
    }
}
var rows: [(keys: Int, rules: Int, perSecond: Double)] = []
for keyCount in keyCounts {
    for ruleCount in ruleCounts { rows.append((keyCount, ruleCount, best["\(keyCount)/\(ruleCount)"]!)) }
}
let base = rows[0].perSecond
print("| keys | rules in policy | decisions/s | cost vs 10 keys, 10 rules |")
print("| ---: | ---: | ---: | ---: |")
for row in rows {
    print("| \(row.keys) | \(row.rules) | \(Int(row.perSecond)) | \(String(format: "%.2f", base / row.perSecond))× |")
}
for rules in [10, 100, 1000] {
    let small = rows.first { $0.keys == 10 && $0.rules == rules }!.perSecond
    let large = rows.first { $0.keys == 100_000 && $0.rules == rules }!.perSecond
    print("keys 100,000 vs 10 at \(rules) rules: cost ratio \(String(format: "%.2f", small / large))")
}
