/// Form decoding of a query string, as Astro's Go backend reads it (`net/url.ParseQuery`):
/// items split on `&`, name and value split on the first `=`, `+` decodes to a space, `%XX` to a
/// byte. A `+` therefore never matches a workspace id, so it can only narrow what a policy allows.
///
/// The policy reads `workspaceId` / `workspaceIds` from here; the query itself is forwarded byte for
/// byte. To keep the two readings identical, a key that some other server could take for a
/// workspace filter but Go would not (`WorkspaceIds`, `workspace%2549ds`, `workspaceIds[]`, a
/// leading space) is refused as ambiguous.
public enum QueryString {
    /// The query keys the policy reads workspace filters from.
    public static let workspaceKeys: Set<String> = ["workspaceId", "workspaceIds"]

    /// Parses an already byte-checked query (see `TargetNormalizer`).
    public static func parse(_ query: String) throws(TargetRefusal) -> [QueryItem] {
        var items: [QueryItem] = []
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawName = equals.map { pair[pair.startIndex..<$0] } ?? pair[...]
            let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? pair[pair.endIndex...]
            guard let name = formDecode(rawName), let value = formDecode(rawValue) else {
                throw .malformedPercentEncoding
            }
            if !workspaceKeys.contains(name), looksLikeWorkspaceKey(name) {
                throw .ambiguousQueryKey(name)
            }
            items.append(QueryItem(name: name, value: value))
        }
        return items
    }

    /// Decodes `+` and `%XX` once. Returns nil for a malformed escape. Invalid UTF-8 after decoding
    /// is replaced (such a value can never equal an id, so it can only fail a policy check).
    public static func formDecode<C: Collection>(_ raw: C) -> String? where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "+") {
                out.append(0x20)
            } else if byte == UInt8(ascii: "%") {
                let first = raw.index(after: index)
                guard first != raw.endIndex else { return nil }
                let second = raw.index(after: first)
                guard second != raw.endIndex, let high = TargetNormalizer.hexValue(raw[first]),
                    let low = TargetNormalizer.hexValue(raw[second])
                else { return nil }
                out.append(high << 4 | low)
                index = second
            } else {
                out.append(byte)
            }
            index = raw.index(after: index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True when `name`, decoded repeatedly, lowercased, trimmed and stripped of a `[...]` suffix,
    /// reads `workspaceid` or `workspaceids`.
    static func looksLikeWorkspaceKey(_ name: String) -> Bool {
        var current = name
        for _ in 0..<4 {
            guard current.utf8.contains(UInt8(ascii: "%")) || current.utf8.contains(UInt8(ascii: "+")),
                let next = formDecode(Array(current.utf8)), next != current
            else { break }
            current = next
        }
        var folded = current.lowercased().filter { !$0.isWhitespace && $0 != "_" && $0 != "-" }
        if let bracket = folded.firstIndex(of: "[") { folded = String(folded[..<bracket]) }
        return folded == "workspaceid" || folded == "workspaceids"
    }
}
