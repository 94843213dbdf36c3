import Policy

/// What a catalogue route does to the in-memory state, read off the shape of its template.
///
/// A template prefix is a *collection* when the catalogue also has that prefix followed by one
/// parameter (`.../deployments` because of `.../deployments/{deploymentId}`). Everything else is
/// classified relative to collections, so new catalogue rows of a known shape work unchanged.
enum RouteShape: Sendable, Equatable {
    /// GET on a collection.
    case list
    /// POST on a collection.
    case create
    /// GET, POST or DELETE on a collection item.
    case get
    case update
    case delete
    /// A literal after an item, e.g. `.../tokens/{tokenId}/rotate`.
    case itemAction(String)
    /// A literal after a collection, e.g. `.../allowed-ip-address-ranges/bulk-create`.
    case collectionAction(String)
    /// Anything else (`/users/self`, `/authorization/permission-groups`, `.../cluster-options`).
    case standalone
}

/// The shapes of all routes of one catalogue, plus what each collection is called.
struct RouteShapes: Sendable {
    struct CollectionInfo: Sendable {
        /// The key that holds a page's items (`deployments`, `teamMembers`, ...).
        let itemsKey: String
    }

    private(set) var shapes: [String: RouteShape] = [:]
    private(set) var collections: [[String]: CollectionInfo] = [:]

    init(catalogue: RouteCatalogue) {
        var collectionKeys: Set<[String]> = []
        for route in catalogue.routes {
            let key = Self.shapeKey(route.segments)
            if key.count >= 1, key.last == "{}" { collectionKeys.insert(Array(key.dropLast())) }
        }
        for key in collectionKeys {
            if case .some(let literal) = key.last {
                collections[key] = CollectionInfo(itemsKey: Self.itemsKey(literal))
            }
        }
        for route in catalogue.routes {
            shapes[route.operationId] = Self.classify(route, collections: collectionKeys)
        }
    }

    func shape(of route: Route) -> RouteShape { shapes[route.operationId] ?? .standalone }

    func collection(for segments: [Route.Segment]) -> CollectionInfo? { collections[Self.shapeKey(segments)] }

    /// Segments with every parameter replaced by `{}`, so `{roleId}` and `{customRoleId}` coincide.
    static func shapeKey(_ segments: [Route.Segment]) -> [String] {
        segments.map {
            switch $0 {
            case .literal(let text): text
            case .parameter: "{}"
            }
        }
    }

    private static func classify(_ route: Route, collections: Set<[String]>) -> RouteShape {
        let key = shapeKey(route.segments)
        guard let last = key.last else { return .standalone }
        if last == "{}" {
            switch route.method {
            case "GET": return .get
            case "POST": return .update
            case "DELETE": return .delete
            default: return .standalone
            }
        }
        if collections.contains(key) {
            switch route.method {
            case "GET": return .list
            case "POST": return .create
            default: return .standalone
            }
        }
        let parent = Array(key.dropLast())
        if parent.last == "{}" { return .itemAction(last) }
        if collections.contains(parent) { return .collectionAction(last) }
        return .standalone
    }

    /// `allowed-ip-address-ranges` → `allowedIpAddressRanges`; two lists use other keys (NOTES.md).
    static func itemsKey(_ literal: String) -> String {
        switch literal {
        case "members": return "teamMembers"
        case "agent-tokens": return "tokens"
        default:
            let words = literal.split(separator: "-")
            return words.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
        }
    }

    /// `allowedIpAddressRangeId` → `allowed ip address range`: how a 404 message names a resource.
    static func kindName(parameter: String) -> String {
        let base = parameter.hasSuffix("Id") ? String(parameter.dropLast(2)) : parameter
        var words = ""
        for character in base {
            if character.isUppercase, !words.isEmpty { words += " " }
            words += character.lowercased()
        }
        return words.isEmpty ? "resource" : words
    }
}

extension Substring {
    fileprivate var capitalized: String { prefix(1).uppercased() + dropFirst() }
}
