import Foundation
import Yams

/// keys.yaml: reading with line-precise errors, and writing back deterministically.
///
/// ```yaml
/// keys:
///   - id: "k7d2m4q9x3ab"
///     name: "ci-deployer"
///     policy: "ci-deployer"
///     created: "2026-01-02T03:04:05Z"
///     expires: "2026-04-02T03:04:05Z"      # optional
///     revokedAt: "2026-02-01T00:00:00Z"    # optional
///     note: "owned by team X"              # optional
///     digests:
///       - sha256: "<64 hex>"               # current secret
///       - sha256: "<64 hex>"               # previous secret after a rotate, until:
///         validUntil: "2026-01-03T03:04:05Z"
/// ```
/// Writing the file (temp file, fsync, rename) is the caller's job: this type only maps text.
extension KeyStore {
    public static func parse(yaml text: String, file: String = "keys.yaml") throws(ConfigFileError) -> KeyStore {
        let doc = YAMLDocument(file: file)
        let root = try doc.compose(text)
        var records: [LocalKey] = []
        var nodesById: [String: Node] = [:]
        for (key, _, value) in try doc.mapping(root, "keys file", allowed: ["keys"]) where key == "keys" {
            if value.null != nil { continue }
            guard let sequence = value.sequence else { throw doc.error(value, "keys must be a list") }
            for item in sequence {
                let record = try parseKey(item, doc)
                if nodesById[record.id] != nil { throw doc.error(item, "duplicate key id \(record.id)") }
                nodesById[record.id] = item
                records.append(record)
            }
        }
        do {
            return try KeyStore(keys: records)
        } catch {
            // Ids and duplicates were validated above with their lines; this is the fallback.
            throw ConfigFileError(file: file, line: 1, column: 1, message: error.description)
        }
    }

    private static func parseKey(_ node: Node, _ doc: YAMLDocument) throws(ConfigFileError) -> LocalKey {
        let fields: Set<String> = ["id", "name", "policy", "created", "expires", "revokedAt", "note", "digests"]
        var id: String?
        var name: String?
        var policy: String?
        var created: Date?
        var expires: Date?
        var revokedAt: Date?
        var note: String?
        var digests: [LocalKey.Digest]?
        for (key, _, value) in try doc.mapping(node, "key", allowed: fields) {
            switch key {
            case "id":
                let text = try doc.string(value, "id")
                guard LocalKeyFormat.isValidKeyId(text) else {
                    throw doc.error(value, "key id must be 1-64 characters of a-z0-9")
                }
                id = text
            case "name": name = try doc.string(value, "name")
            case "policy": policy = try doc.string(value, "policy")
            case "created": created = try date(value, "created", doc)
            case "expires": expires = try date(value, "expires", doc)
            case "revokedAt": revokedAt = try date(value, "revokedAt", doc)
            case "note": note = try doc.string(value, "note")
            default: digests = try parseDigests(value, doc)
            }
        }
        guard let id else { throw doc.error(node, "key is missing 'id'") }
        guard let name else { throw doc.error(node, "key \(id) is missing 'name'") }
        guard let policy else { throw doc.error(node, "key \(id) is missing 'policy'") }
        guard let created else { throw doc.error(node, "key \(id) is missing 'created'") }
        guard let digests, !digests.isEmpty else { throw doc.error(node, "key \(id) has no digests") }
        guard digests.filter({ $0.validUntil == nil }).count <= 1 else {
            throw doc.error(node, "key \(id) has more than one current digest (all but one need validUntil)")
        }
        return LocalKey(
            id: id, name: name, policy: policy, created: created, expires: expires, revokedAt: revokedAt, note: note,
            digests: digests)
    }

    private static func parseDigests(_ node: Node, _ doc: YAMLDocument) throws(ConfigFileError) -> [LocalKey.Digest] {
        guard let sequence = node.sequence else { throw doc.error(node, "digests must be a list") }
        var out: [LocalKey.Digest] = []
        for item in sequence {
            var sha: String?
            var validUntil: Date?
            for (key, _, value) in try doc.mapping(item, "digest", allowed: ["sha256", "validUntil"]) {
                if key == "sha256" {
                    let text = try doc.string(value, "sha256")
                    guard text.utf8.count == 64, let bytes = Crypto.fromHex(text), bytes.count == 32 else {
                        throw doc.error(value, "sha256 must be 64 hex digits")
                    }
                    sha = text.lowercased()
                } else {
                    validUntil = try date(value, "validUntil", doc)
                }
            }
            guard let sha else { throw doc.error(item, "digest is missing 'sha256'") }
            out.append(LocalKey.Digest(sha256: sha, validUntil: validUntil))
        }
        return out
    }

    private static func date(_ node: Node, _ what: String, _ doc: YAMLDocument) throws(ConfigFileError) -> Date {
        let text = try doc.string(node, what)
        guard let date = try? Date(text, strategy: .iso8601) else {
            throw doc.error(node, "\(what) must be an RFC 3339 UTC timestamp like 2026-01-02T03:04:05Z")
        }
        return date
    }

    /// The keys file text. Stable: same store, same bytes.
    public func yaml() -> String {
        var out = "# astro-gateway local keys. Digests only (SHA-256 of the key); safe to commit.\n"
        if keys.isEmpty { return out + "keys: []\n" }
        out += "keys:\n"
        for key in keys {
            out += "  - id: \(Self.quoted(key.id))\n"
            out += "    name: \(Self.quoted(key.name))\n"
            out += "    policy: \(Self.quoted(key.policy))\n"
            out += "    created: \(Self.quoted(Self.timestamp(key.created)))\n"
            if let expires = key.expires { out += "    expires: \(Self.quoted(Self.timestamp(expires)))\n" }
            if let revokedAt = key.revokedAt { out += "    revokedAt: \(Self.quoted(Self.timestamp(revokedAt)))\n" }
            if let note = key.note { out += "    note: \(Self.quoted(note))\n" }
            out += "    digests:\n"
            for digest in key.digests {
                out += "      - sha256: \(Self.quoted(digest.sha256))\n"
                if let until = digest.validUntil {
                    out += "        validUntil: \(Self.quoted(Self.timestamp(until)))\n"
                }
            }
        }
        return out
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// A YAML double-quoted scalar; escapes everything that is not printable ASCII.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case " "..."~": out.unicodeScalars.append(scalar)
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                if scalar.value <= 0xFFFF {
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out += "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
                }
            }
        }
        return out + "\""
    }
}
