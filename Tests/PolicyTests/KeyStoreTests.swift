import Foundation
import Testing

@testable import Policy

@Suite struct KeyStoreTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func bearer(_ key: String) -> [String] { ["Bearer " + key] }

    @Test func generatedKeyHasTheDocumentedShape() {
        var store = try! KeyStore()
        let (record, key) = store.generate(name: "ci", policy: "ci-deployer", now: Self.t0)
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts[0] == "agw" && parts[1] == record.id)
        #expect(record.id.count == 12 && record.id.allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
        #expect(parts[2].count == 52)  // 32 random bytes, base32
        #expect(record.digests == [LocalKey.Digest(sha256: LocalKeyFormat.digest(ofKey: key))])
        #expect(!store.yaml().contains(String(parts[2])))
        let (other, otherKey) = store.generate(name: "ci2", policy: "p", now: Self.t0)
        #expect(other.id != record.id && otherKey != key)
        #expect(store.count == 2)
    }

    @Test func authenticatesAndDistinguishesFailures() throws {
        var store = try KeyStore()
        let (record, key) = store.generate(name: "svc", policy: "p", expires: Self.t0 + 3600, now: Self.t0)
        let now = Self.t0 + 60
        #expect(store.authenticate(authorizationHeaderValues: Self.bearer(key), now: now) == .authenticated(record))
        #expect(store.authenticate(authorizationHeaderValues: ["bearer  " + key], now: now) == .authenticated(record))
        #expect(store.authenticate(authorizationHeaderValues: [], now: now) == .failed(.missing))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(key) + Self.bearer(key), now: now)
                == .failed(.multipleAuthorizationHeaders))
        for value in [
            "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token " + key, key, "Bearer " + key + " ", "Bearer\t" + key,
        ] {
            #expect(store.authenticate(authorizationHeaderValues: [value], now: now) == .failed(.notBearer), "\(value)")
        }
        for token in [
            "abc", "agw_", "agw__x", "AGW_" + key.dropFirst(4), "agw_\(record.id)", "agw_ID_secretsecretsecret1",
            "agw_\(record.id)_short", "agw_\(record.id)_" + String(repeating: "a", count: 40) + "_x",
        ] {
            #expect(
                store.authenticate(authorizationHeaderValues: Self.bearer(token), now: now) == .failed(.notGatewayKey),
                "\(token)")
        }
        var wrongSecret = Array(key)
        wrongSecret[wrongSecret.count - 1] = wrongSecret.last == "a" ? "b" : "a"
        let unknownId = "agw_zzzzzzzzzzzz_" + key.split(separator: "_")[2]
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(String(wrongSecret)), now: now)
                == .failed(.unknownOrWrongSecret))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(unknownId), now: now)
                == .failed(.unknownOrWrongSecret))
        #expect(AuthFailure.unknownOrWrongSecret.message == "unknown key or wrong secret")
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(key), now: Self.t0 + 3600) == .failed(.expired))
        try store.revoke(id: record.id, now: Self.t0 + 120)
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(key), now: Self.t0 + 119)
                == .authenticated(store.key(id: record.id)!))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(key), now: Self.t0 + 120) == .failed(.revoked))
        // The secret is checked first: a wrong secret for a revoked key does not learn it is revoked.
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(String(wrongSecret)), now: Self.t0 + 200)
                == .failed(.unknownOrWrongSecret))
        #expect(throws: KeyStoreError.alreadyRevoked(record.id)) { try store.revoke(id: record.id, now: Self.t0 + 300) }
        #expect(throws: KeyStoreError.unknownKey("nope")) { try store.revoke(id: "nope", now: Self.t0) }
    }

    @Test func rotateKeepsTheOldSecretForTheGraceOnly() throws {
        var store = try KeyStore()
        let (record, oldKey) = store.generate(name: "svc", policy: "p", now: Self.t0)
        let (rotated, newKey) = try store.rotate(id: record.id, grace: 3600, now: Self.t0 + 10)
        #expect(newKey != oldKey && rotated.id == record.id)
        #expect(rotated.digests.count == 2)
        #expect(rotated.digests[0].validUntil == Self.t0 + 3610 && rotated.digests[1].validUntil == nil)
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(oldKey), now: Self.t0 + 3609)
                == .authenticated(rotated))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(newKey), now: Self.t0 + 3609)
                == .authenticated(rotated))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(oldKey), now: Self.t0 + 3610)
                == .failed(.unknownOrWrongSecret))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(newKey), now: Self.t0 + 9999)
                == .authenticated(rotated))
        // A second rotation after the grace drops the dead digest; with grace 0 the old one dies now.
        let (again, newest) = try store.rotate(id: record.id, grace: 0, now: Self.t0 + 7200)
        #expect(again.digests.count == 1)
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(newKey), now: Self.t0 + 7200)
                == .failed(.unknownOrWrongSecret))
        #expect(
            store.authenticate(authorizationHeaderValues: Self.bearer(newest), now: Self.t0 + 7200)
                == .authenticated(again))
        #expect(throws: KeyStoreError.unknownKey("missing")) { try store.rotate(id: "missing", grace: 0, now: Self.t0) }
    }

    @Test func yamlRoundTrip() throws {
        var store = try KeyStore()
        let (a, _) = store.generate(
            name: "ci \"deployer\"\nline2", policy: "ci-deployer", expires: Self.t0 + 86_400, note: "owner: ops ✓",
            now: Self.t0 + 0.7)
        _ = store.generate(name: "reader", policy: "deploy-reader", now: Self.t0)
        _ = try store.rotate(id: a.id, grace: 600, now: Self.t0 + 5)
        let (b, _) = store.generate(name: "old", policy: "p", now: Self.t0)
        try store.revoke(id: b.id, now: Self.t0 + 9)
        let text = store.yaml()
        let parsed = try KeyStore.parse(yaml: text)
        #expect(parsed == store)
        #expect(parsed.yaml() == text)
        #expect(try KeyStore.parse(yaml: "keys: []\n").count == 0)
        #expect(try KeyStore.parse(yaml: "").count == 0)
        #expect(try KeyStore().yaml().contains("keys: []"))
    }

    @Test func keysFileErrorsNameTheLine() {
        let digest = String(repeating: "ab", count: 32)
        let cases: [(String, Int, String)] = [
            (
                "keys:\n  - id: abc\n    name: a\n    policy: p\n    created: 2026-01-01T00:00:00Z\n    digests: [{sha256: \(digest)}]\n    colour: red\n",
                7, "unknown key 'colour'"
            ),
            ("keys:\n  - id: ABC\n", 2, "key id must be"),
            ("keys:\n  - id: abc\n    name: a\n    policy: p\n    created: yesterday\n", 5, "RFC 3339"),
            (
                "keys:\n  - id: abc\n    name: a\n    policy: p\n    created: 2026-01-01T00:00:00Z\n    digests: [{sha256: xyz}]\n",
                6, "64 hex"
            ),
            ("keys:\n  - id: abc\n    name: a\n", 2, "missing 'policy'"),
            (
                "keys:\n  - id: abc\n    name: a\n    policy: p\n    created: 2026-01-01T00:00:00Z\n    digests: []\n",
                2, "no digests"
            ),
            ("keys: {a: 1}\n", 1, "must be a list"),
            ("keys:\n  - id: abc\n    name: [unclosed\n", 4, ""),
            ("secrets: []\n", 1, "unknown key 'secrets'"),
        ]
        for (text, line, fragment) in cases {
            do {
                _ = try KeyStore.parse(yaml: text, file: "k.yaml")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.file == "k.yaml")
                #expect(error.line == line, "\(error)")
                #expect(fragment.isEmpty || error.message.contains(fragment), "\(error)")
            }
        }
        let twice =
            "keys:\n"
            + String(
                repeating:
                    "  - {id: abc, name: a, policy: p, created: 2026-01-01T00:00:00Z, digests: [{sha256: \(digest)}]}\n",
                count: 2)
        #expect(throws: ConfigFileError.self) { try KeyStore.parse(yaml: twice) }
    }

    @Test func lookupIsADictionaryProbe() throws {
        // Structural: authentication of one key is unaffected by thousands of others, and an unknown
        // id is answered like a wrong secret.
        var store = try KeyStore()
        var keys: [String] = []
        for index in 0..<2_000 {
            keys.append(store.generate(name: "k\(index)", policy: "p", now: Self.t0).plaintextKey)
        }
        for key in keys.shuffled().prefix(50) {
            guard
                case .authenticated(let record) = store.authenticate(
                    authorizationHeaderValues: Self.bearer(key), now: Self.t0)
            else {
                Issue.record("key did not authenticate")
                continue
            }
            #expect(key.contains("_\(record.id)_"))
        }
    }
}

@Suite struct HexTests {
    @Test func everyByteAsTwoLowercaseDigits() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Crypto.hex(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Crypto.hex([UInt8]()) == "")
    }
}
