import Testing

@testable import Policy

@Suite struct PolicyCapsTests {
    @Test func capsParsePerMethodClass() throws {
        let set = try PolicySet.parse(
            yaml: "policies:\n  p:\n    caps: { POST: 2, DELETE: 1 }\n    allow:\n      - methods: [POST]\n")
        #expect(set.policy(named: "p")?.caps == ["POST": 2, "DELETE": 1])
    }

    @Test func badCapsAreRefusedWithTheirLine() {
        for (yaml, line) in [
            ("policies:\n  p:\n    caps: { POST: 0 }\n", 3),
            ("policies:\n  p:\n    caps:\n      PATCH: 2\n", 4),
            ("policies:\n  p:\n    caps: { GET: many }\n", 3),
        ] {
            #expect(throws: ConfigFileError.self) { try PolicySet.parse(yaml: yaml) }
            do {
                _ = try PolicySet.parse(yaml: yaml)
            } catch {
                #expect(error.line == line, "\(error)")
            }
        }
    }
}
