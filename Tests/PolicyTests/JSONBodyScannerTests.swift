import Testing

@testable import Policy

@Suite struct JSONBodyScannerTests {
    static func scan(_ text: String) -> JSONBodyScanner.Outcome {
        JSONBodyScanner.workspaces(in: Array(text.utf8))
    }

    @Test func extractsTopLevelWorkspaces() {
        #expect(Self.scan(#"{"workspaceId":"w1"}"#) == .workspaces(["w1"]))
        #expect(
            Self.scan(#" { "a" : [1, -2.5e-3, {"workspaceId":"inner"}], "workspaceIds" : ["w2","w3"] } "#)
                == .workspaces(["w2", "w3"]))
        #expect(Self.scan(#"{"name":"x"}"#) == .workspaces([]))
        #expect(Self.scan("{}") == .workspaces([]))
        #expect(Self.scan(#"{"workspaceId":"\ud83d\ude00"}"#) == .workspaces(["😀"]))
    }

    @Test(arguments: [
        "", "[]", "\"x\"", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":tru}", "{\"a\":\"\u{01}\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}", "{\"a\":1}{}", "\u{FEFF}{}", "{\"a\":1,\"a\":2}", "{\"A\":1,\"a\":2}",
        "{\"workspaceId\":1}", "{\"workspaceIds\":\"w\"}", "{\"workspaceIds\":[1]}",
        "{\"workspaceId\":\"w\",\"WORKSPACEID\":\"w\"}",
        "{\"Kelvin\":1,\"kelvin\":2}", "{\"x\":NaN}", "{\"x\":Infinity}", "{\"x\":-}",
    ])
    func refused(text: String) {
        guard case .invalid = Self.scan(text) else {
            Issue.record("accepted \(text)")
            return
        }
    }

    @Test func invalidUTF8AndDepth() {
        #expect(JSONBodyScanner.workspaces(in: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) != .workspaces([]))
        let deep = "{\"a\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"
        guard case .invalid = Self.scan(deep) else {
            Issue.record("accepted deep nesting")
            return
        }
        let ok = "{\"a\":" + String(repeating: "[", count: 30) + String(repeating: "]", count: 30) + "}"
        #expect(Self.scan(ok) == .workspaces([]))
    }

    @Test func goFoldingOfKeys() {
        #expect(JSONBodyScanner.fold("Workſpace\u{212A}") == "workspacek")
        #expect(Self.scan(#"{"WorkspaceID":"w9"}"#) == .workspaces(["w9"]))
        #expect(Self.scan(#"{"workſpaceId":"w9"}"#) == .workspaces(["w9"]))
    }
}
