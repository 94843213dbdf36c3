import Foundation
import Yams

/// A configuration error that names the file, the line, the key path and what is wrong.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int?
    public let keyPath: String
    public let message: String

    public init(file: String, line: Int?, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// Walks a composed YAML mapping with typed accessors that remember where each value came from,
/// so every error names file, line and key path, and unknown keys are refused rather than ignored.
struct YAMLReader {
    let file: String
    let node: Node?
    let path: String
    private let parentLine: Int?

    init(file: String, node: Node?, path: String = "", parentLine: Int? = nil) {
        self.file = file
        self.node = node
        self.path = path
        self.parentLine = parentLine
    }

    static func parse(text: String, file: String) throws -> YAMLReader {
        do {
            let node = try Yams.compose(yaml: text)
            return YAMLReader(file: file, node: node)
        } catch let error as YamlError {
            throw ConfigError(file: file, line: nil, keyPath: "", message: "not valid YAML: \(error)")
        }
    }

    var line: Int? { node?.mark?.line ?? parentLine }

    func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, keyPath: path, message: message)
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    var isNull: Bool {
        guard let node else { return true }
        if case .scalar(let s) = node, s.tag.description.hasSuffix(":null") || s.string == "" || s.string == "~" {
            return node.null != nil
        }
        return false
    }

    /// A child of this mapping; `nil`-valued when the key is absent.
    subscript(key: String) -> YAMLReader {
        let child = node?.mapping?[key]
        return YAMLReader(file: file, node: child, path: childPath(key), parentLine: line)
    }

    var exists: Bool { node != nil && !isNull }

    /// Refuses keys this mapping does not define: a typo must not silently fall back to a default.
    func requireMapping(allowedKeys: Set<String>) throws {
        guard let node else { return }
        guard let mapping = node.mapping else { throw error("must be a mapping") }
        for (key, _) in mapping {
            guard let name = key.string, allowedKeys.contains(name) else {
                let known = allowedKeys.sorted().joined(separator: ", ")
                throw ConfigError(
                    file: file, line: key.mark?.line, keyPath: path,
                    message: "unknown key '\(key.string ?? "?")' (known: \(known))")
            }
        }
    }

    var mappingKeys: [String] {
        node?.mapping?.compactMap { $0.key.string } ?? []
    }

    func string(default value: String? = nil) throws -> String? {
        guard exists, let node else { return value }
        guard case .scalar = node, let s = node.string else { throw error("must be a string") }
        return s
    }

    func requiredString() throws -> String {
        guard let s = try string(), !s.isEmpty else { throw error("is required") }
        return s
    }

    func int(default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard exists, let node else { return value }
        guard let i = node.int else { throw error("must be a whole number (got '\(node.string ?? "?")')") }
        guard range.contains(i) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound) (got \(i))")
        }
        return i
    }

    func double(default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard exists, let node else { return value }
        guard let d = node.float ?? node.int.map(Double.init) else {
            throw error("must be a number (got '\(node.string ?? "?")')")
        }
        guard range.contains(d) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound) (got \(d))")
        }
        return d
    }

    func bool(default value: Bool) throws -> Bool {
        guard exists, let node else { return value }
        guard let b = node.bool else { throw error("must be true or false (got '\(node.string ?? "?")')") }
        return b
    }

    func oneOf(_ choices: [String], default value: String) throws -> String {
        guard let s = try string() else { return value }
        guard choices.contains(s) else {
            throw error("must be one of \(choices.joined(separator: ", ")) (got '\(s)')")
        }
        return s
    }

    var sequence: [YAMLReader]? {
        guard let seq = node?.sequence else { return nil }
        return seq.enumerated().map { YAMLReader(file: file, node: $1, path: "\(path)[\($0)]", parentLine: line) }
    }
}
