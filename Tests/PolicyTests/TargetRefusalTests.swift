import Testing

@testable import Policy

/// Table tests: each refusal class, with many hostile spellings drawn from known path-confusion
/// bugs (nginx merge_slashes/alias, Envoy/Istio %2F and %5C, Spring ;matrix and suffix matching,
/// Tomcat `..;/`, IIS `%u`/backslash, Kong double decoding).
@Suite struct TargetRefusalTests {
    static let normalizer = TargetNormalizer()
    static let base = "/v1/organizations/org1/deployments"

    static func refusal(_ target: [UInt8], method: String = "GET") -> TargetRefusal? {
        do {
            _ = try normalizer.normalize(method: method, rawTarget: target)
            return nil
        } catch {
            return error
        }
    }

    static func refusal(_ target: String, method: String = "GET") -> TargetRefusal? {
        refusal(Array(target.utf8), method: method)
    }

    static let table: [(target: String, expected: TargetRefusal)] = [
        ("", .empty),
        ("*", .asteriskForm),
        ("http://api.astronomer.io/v1/organizations", .absoluteForm),
        ("https://127.0.0.1:8080/v1/organizations", .absoluteForm),
        ("HTTP://x/v1/organizations", .absoluteForm),
        ("api.astronomer.io:443", .authorityForm),
        ("v1/organizations", .authorityForm),
        ("/v1/organizations#frag", .fragment),
        ("/v1/organizations?x=1#frag", .fragment),
        ("/v1/organizations/org1 /deployments", .whitespace),
        ("/v1/organizations?x=a b", .whitespace),
        ("/v1/organizations\\org1", .backslash),
        ("/v1\\organizations", .backslash),
        ("/v1/organizations/org1\\..\\org2/deployments", .backslash),
        ("/v1/organizations;a=b", .semicolon),
        ("/v1/organizations/org1;/deployments", .semicolon),
        ("/v1/organizations/org1/..;/org2/deployments", .semicolon),
        ("/v1/organizations;jsessionid=1/org1", .semicolon),
        ("/v1/organizations/org1%2fdeployments", .encodedSlash),
        ("/v1/organizations/org1%2Fdeployments", .encodedSlash),
        ("/v1%2forganizations", .encodedSlash),
        ("/v1/organizations/org1%5c..%5corg2", .encodedBackslash),
        ("/v1/organizations/org1%5C", .encodedBackslash),
        ("/v1/organizations/%2e%2e/org2", .encodedDot),
        ("/v1/organizations/%2E/org2", .encodedDot),
        ("/v1/organizations/.%2e/org2", .encodedDot),
        ("/v1/organizations/org1%00/deployments", .encodedNul),
        ("/v1/organizations?x=%00", .encodedNul),
        ("/v1/organizations/org1%252fdeployments", .doubleEncoding),
        ("/v1/organizations/%252e%252e/x", .doubleEncoding),
        ("/v1/organizations/%25", .doubleEncoding),
        ("/v1/organizations/org1%", .malformedPercentEncoding),
        ("/v1/organizations/org1%2", .malformedPercentEncoding),
        ("/v1/organizations/org1%zz", .malformedPercentEncoding),
        ("/v1/organizations/%u002e%u002e/x", .malformedPercentEncoding),
        ("/v1/organizations?x=%", .malformedPercentEncoding),
        ("/v1/organizations?x=%g1", .malformedPercentEncoding),
        ("/v1/organizations/%6Frg1", .percentEncodedPath),
        ("/v1/%6Frganizations/org1", .percentEncodedPath),
        ("/v1/organizations/org1%20", .percentEncodedPath),
        ("/v1/organizations/org1%09", .percentEncodedPath),
        ("/v1/organizations/org1%c0%af", .percentEncodedPath),
        ("/v1/organizations/org1@evil", .disallowedPathCharacter(UInt8(ascii: "@"))),
        ("/v1/organizations/org1:8080", .disallowedPathCharacter(UInt8(ascii: ":"))),
        ("/v1/organizations/org1+x", .disallowedPathCharacter(UInt8(ascii: "+"))),
        ("/v1/organizations/org1,org2", .disallowedPathCharacter(UInt8(ascii: ","))),
        ("/v1/organizations/*", .disallowedPathCharacter(UInt8(ascii: "*"))),
        ("/v1/organizations/{organizationId}", .disallowedPathCharacter(UInt8(ascii: "{"))),
        ("/v1/./organizations", .dotSegment),
        ("/v1/organizations/../organizations", .dotSegment),
        ("/v1/organizations/org1/deployments/..", .dotSegment),
        ("/v1/organizations/org1/.", .dotSegment),
        ("/v1/organizations/.../x", .dotSegment),
        ("/v1//organizations", .emptySegment),
        ("/v1/organizations//org1", .emptySegment),
        ("/v1/organizations/", .emptySegment),
        ("/v1/organizations/org1/deployments/", .emptySegment),
        ("/v1/", .emptySegment),
        ("/v1/organizations?a=1;workspaceIds=x", .disallowedQueryCharacter(UInt8(ascii: ";"))),
        ("/v1/organizations?a=<script>", .disallowedQueryCharacter(UInt8(ascii: "<"))),
        ("/v1/organizations?a=\"", .disallowedQueryCharacter(UInt8(ascii: "\""))),
        ("/v1/organizations?a=\\", .disallowedQueryCharacter(UInt8(ascii: "\\"))),
        ("/v1/organizations?a[]=1", .disallowedQueryCharacter(UInt8(ascii: "["))),
        ("/v1/organizations?a=`", .disallowedQueryCharacter(UInt8(ascii: "`"))),
        ("/v1/organizations?a={}", .disallowedQueryCharacter(UInt8(ascii: "{"))),
        ("/v1/organizations?a=|", .disallowedQueryCharacter(UInt8(ascii: "|"))),
        ("/v1", .notUnderV1),
        ("/v1?x=1", .notUnderV1),
        ("/V1/organizations", .notUnderV1),
        ("/v2/organizations", .notUnderV1),
        ("/v1.0/organizations", .notUnderV1),
        ("/organizations", .notUnderV1),
        ("/_gateway/whoami", .notUnderV1),
        ("/", .notUnderV1),
        ("/v1/Organizations", .unknownRoute),
        ("/v1/organizations/org1/deployment", .unknownRoute),
        ("/v1/organizations/org1/deployments.json", .unknownRoute),
        ("/v1/organizations/org1/deployments/d1/x", .unknownRoute),
        ("/v1/labs/v1/alerts", .unknownRoute),
        ("/v1/v1/organizations", .unknownRoute),
        ("/v1/organizations/org1/deployments~", .unknownRoute),
    ]

    @Test(arguments: table)
    func refused(target: String, expected: TargetRefusal) {
        #expect(Self.refusal(target) == expected, "target \(target)")
    }

    @Test func controlCharactersAnywhere() {
        for byte in Array(UInt8(0)..<0x20) + [0x7F] where byte != 0x20 {
            for template in [[UInt8]("/v1/organizations/org1".utf8), [UInt8]("/v1/organizations?x=1".utf8)] {
                for position in [3, 10, template.count] {
                    var target = template
                    target.insert(byte, at: position)
                    #expect(Self.refusal(target) == .controlCharacter, "byte \(byte) at \(position)")
                }
            }
        }
    }

    @Test func nonASCIIAnywhere() {
        let spellings: [[UInt8]] = [
            Array("/v1/organizations/org\u{0131}".utf8),  // dotless i, uppercases to I
            Array("/v1/organizations/org1/deployments\u{FF0F}x".utf8),  // fullwidth solidus
            Array("/v1/organizations/\u{2024}\u{2024}/x".utf8),  // one-dot leaders
            [0x2F, 0x76, 0x31, 0x2F, 0xC0, 0xAF],  // overlong '/'
            [0x2F, 0x76, 0x31, 0x2F, 0xFF],
            Array("/v1/organizations?q=\u{00E9}".utf8),
        ]
        for target in spellings { #expect(Self.refusal(target) == .nonASCII) }
    }

    @Test func invalidMethods() {
        for method in ["", "get", "G ET", "GET\r\n", "X-GET", "PROPFIND-LONG-METHOD-NAME"] {
            #expect(Self.refusal(Self.base, method: method) == .invalidMethod, "method \(method)")
        }
        #expect(Self.refusal(Self.base, method: "PUT") == .methodNotAllowed(allowed: ["GET", "POST"]))
        #expect(Self.refusal(Self.base, method: "PATCH") == .methodNotAllowed(allowed: ["GET", "POST"]))
    }

    @Test func statusesAndMessages() {
        #expect(TargetRefusal.unknownRoute.status == 404)
        #expect(TargetRefusal.notUnderV1.status == 404)
        #expect(TargetRefusal.methodNotAllowed(allowed: ["GET"]).status == 405)
        #expect(TargetRefusal.encodedSlash.status == 400)
        #expect(TargetRefusal.ambiguousQueryKey("x").status == 400)
        // Messages never echo the offending bytes.
        #expect(!TargetRefusal.ambiguousQueryKey("<evil>").message.contains("evil"))
    }

    @Test func ambiguousWorkspaceKeys() {
        let hostile = [
            "WorkspaceIds=ws9", "workspaceids=ws9", "WORKSPACEID=ws9", "workspace%49ds=ws1", "workspace%2549ds=ws9",
            "workspaceIds%5B%5D=ws9", "workspace_ids=ws9", "+workspaceIds=ws9", "workspaceIds%20=ws9",
            "workspace-id=ws9",
        ]
        for query in hostile {
            let target = Self.base + "?" + query
            let refusal = Self.refusal(target)
            // `workspace%49ds` decodes once to the canonical key: that one is accepted.
            if query == "workspace%49ds=ws1" {
                #expect(refusal == nil)
            } else {
                #expect(refusal == .ambiguousQueryKey(Self.decoded(query)), "query \(query)")
            }
        }
    }

    static func decoded(_ query: String) -> String {
        let name = query.split(separator: "=", maxSplits: 1)[0]
        return QueryString.formDecode(Array(name.utf8)) ?? ""
    }
}
