import Yams

/// Helpers for reading a composed YAML tree with errors that name the file and line.
struct YAMLDocument {
    let file: String

    func error(_ node: Node?, _ message: String) -> ConfigFileError {
        let mark = node?.mark
        return ConfigFileError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message)
    }

    /// Composes `text` into a tree; an empty document is an empty mapping.
    func compose(_ text: String) throws(ConfigFileError) -> Node {
        do {
            return try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([]))
        } catch let yamlError as YamlError {
            throw Self.convert(yamlError, file: file)
        } catch {
            throw ConfigFileError(file: file, line: 1, column: 1, message: "unreadable YAML")
        }
    }

    private static func convert(_ error: YamlError, file: String) -> ConfigFileError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text) " } ?? ""
            return ConfigFileError(file: file, line: mark.line, column: mark.column, message: prefix + problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigFileError(
                file: file, line: context.mark.line, column: context.mark.column,
                message: "duplicate keys: \(duplicates.joined(separator: ", "))")
        default:
            return ConfigFileError(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
    }

    /// The pairs of a mapping, refusing non-string keys, duplicate keys and keys outside `allowed`.
    func mapping(_ node: Node, _ what: String, allowed: Set<String>? = nil) throws(ConfigFileError) -> [(
        key: String, keyNode: Node, value: Node
    )] {
        guard let mapping = node.mapping else { throw error(node, "\(what) must be a mapping") }
        var seen: Set<String> = []
        var pairs: [(key: String, keyNode: Node, value: Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else { throw error(keyNode, "\(what): keys must be strings") }
            guard seen.insert(key).inserted else { throw error(keyNode, "\(what): duplicate key '\(key)'") }
            if let allowed, !allowed.contains(key) {
                throw error(
                    keyNode,
                    "\(what): unknown key '\(key)' (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            pairs.append((key, keyNode, value))
        }
        return pairs
    }

    func string(_ node: Node, _ what: String) throws(ConfigFileError) -> String {
        guard let scalar = node.scalar else { throw error(node, "\(what) must be a string") }
        return scalar.string
    }

    /// A sequence of strings; a single scalar is read as a one-element list.
    func strings(_ node: Node, _ what: String) throws(ConfigFileError) -> [(value: String, node: Node)] {
        if let scalar = node.scalar { return [(scalar.string, node)] }
        guard let sequence = node.sequence else { throw error(node, "\(what) must be a list of strings") }
        var out: [(value: String, node: Node)] = []
        for item in sequence {
            guard let scalar = item.scalar else { throw error(item, "\(what) must be a list of strings") }
            out.append((scalar.string, item))
        }
        return out
    }
}
