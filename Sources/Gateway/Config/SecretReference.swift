import Foundation

/// Where a secret comes from. Secrets never live in YAML: only a reference to an environment
/// variable or a file does. The resolved value is never printed (see `description`).
public enum SecretReference: Sendable, Equatable, CustomStringConvertible {
    case environment(String)
    case file(String)

    public var description: String {
        switch self {
        case .environment(let name): "env:\(name)"
        case .file(let path): "file:\(path)"
        }
    }

    /// Reads `{ env: NAME }` or `{ file: PATH }`; refuses inline values.
    static func read(_ reader: YAMLReader, baseDirectory: String, defaultEnv: String? = nil) throws -> SecretReference?
    {
        guard reader.exists else { return defaultEnv.map { .environment($0) } }
        if reader.node?.scalar != nil {
            throw reader.error("secrets are never written in YAML: use { env: VARIABLE } or { file: /path/to/file }")
        }
        try reader.requireMapping(allowedKeys: ["env", "file", "id", "value", "secret", "token"])
        for inline in ["value", "secret", "token"] where reader[inline].exists {
            throw reader[inline].error("secrets are never written in YAML: use env: or file: instead")
        }
        let env = try reader["env"].string()
        let file = try reader["file"].string()
        switch (env, file) {
        case (let e?, nil): return .environment(e)
        case (nil, let f?): return .file(f.hasPrefix("/") ? f : baseDirectory + "/" + f)
        case (nil, nil):
            if let defaultEnv { return .environment(defaultEnv) }
            throw reader.error("needs env: or file:")
        default: throw reader.error("give env: or file:, not both")
        }
    }

    /// Resolves the secret. Errors name the reference, never a value.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(SecretError)
        -> String
    {
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw SecretError(reference: self, reason: "environment variable \(name) is not set or empty")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SecretError(reference: self, reason: "cannot read \(path)")
            }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw SecretError(reference: self, reason: "\(path) is empty") }
            return text
        }
    }
}

public struct SecretError: Error, CustomStringConvertible, Sendable {
    public let reference: SecretReference
    public let reason: String
    public var description: String { "secret \(reference): \(reason)" }
}
