import Foundation

/// One Astro v1 operation: a method on a path template, named by its operationId.
///
/// A class, not a struct: every request's lookup hands a route around (into the normalized
/// request, the decision, the audit record), and copying five strings and an array cost a
/// retain/release storm per request in profiles. Immutable, so sharing one instance is safe.
public final class Route: Sendable, Hashable {
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
    }

    public let method: String
    /// The template as the catalogue spells it, relative to `/v1`, e.g. `/organizations/{organizationId}`.
    public let template: String
    public let operationId: String
    public let family: String
    public let summary: String
    public let segments: [Segment]

    /// How many literal segments the template has; the more specific route wins a tie.
    let literalCount: Int

    public init(
        method: String, template: String, operationId: String, family: String, summary: String,
        segments: [Segment]
    ) {
        self.method = method
        self.template = template
        self.operationId = operationId
        self.family = family
        self.summary = summary
        self.segments = segments
        self.literalCount = segments.reduce(0) { if case .literal = $1 { $0 + 1 } else { $0 } }
    }

    public var parameterNames: [String] {
        segments.compactMap { if case .parameter(let name) = $0 { name } else { nil } }
    }

    /// A route is its method and template (the catalogue never lists one twice).
    public static func == (a: Route, b: Route) -> Bool { a.method == b.method && a.template == b.template }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(template)
    }
}

/// The outcome of looking a method and decoded path segments up in the catalogue.
public enum RouteLookup: Sendable, Equatable {
    case matched(Route, parameters: [String: String])
    /// The path exists, but not for this method; `allowed` is sorted and ready for an `Allow` header.
    case methodNotAllowed(allowed: [String])
    case notFound
}

/// The route catalogue: the v1 operations from `v1-routes.tsv`, shipped as a package resource.
///
/// Lookup is a scan over at most a few dozen candidates with the same segment count; its cost does
/// not depend on keys or policies.
public final class RouteCatalogue: Sendable {
    public let routes: [Route]
    private let bySegmentCount: [Int: [Route]]
    private let byOperationId: [String: Route]

    public struct LoadError: Error, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "route catalogue line \(line): \(reason)" }
    }

    /// Parses the catalogue TSV (header line, then `method path operationId summary family`).
    public init(tsv: String) throws {
        var routes: [Route] = []
        for (index, rawLine) in tsv.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if index == 0 || line.isEmpty { continue }
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cols.count >= 5 else {
                throw LoadError(line: index + 1, reason: "expected 5 tab-separated columns, found \(cols.count)")
            }
            let path = cols[1]
            guard path.hasPrefix("/") else { throw LoadError(line: index + 1, reason: "path must start with /") }
            let segments: [Route.Segment] = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
                .map { seg in
                    if seg.hasPrefix("{") && seg.hasSuffix("}") {
                        return .parameter(String(seg.dropFirst().dropLast()))
                    }
                    return .literal(String(seg))
                }
            routes.append(
                Route(
                    method: cols[0], template: path, operationId: cols[2], family: cols[4], summary: cols[3],
                    segments: segments))
        }
        self.routes = routes
        self.bySegmentCount = Dictionary(grouping: routes, by: { $0.segments.count })
        var byOp: [String: Route] = [:]
        for route in routes { byOp[route.operationId] = route }
        self.byOperationId = byOp
    }

    /// The catalogue shipped with the package (`Resources/v1-routes.tsv`).
    public static let v1: RouteCatalogue = {
        guard let url = Bundle.module.url(forResource: "v1-routes", withExtension: "tsv"),
            let text = try? String(contentsOf: url, encoding: .utf8),
            let catalogue = try? RouteCatalogue(tsv: text)
        else {
            fatalError("the route catalogue resource v1-routes.tsv is missing or malformed")
        }
        return catalogue
    }()

    public func route(operationId: String) -> Route? { byOperationId[operationId] }

    public var families: Set<String> { Set(routes.map(\.family)) }

    /// Looks up already-decoded path segments (relative to `/v1`, without the leading empty one).
    public func lookup<S: StringProtocol>(method: String, segments: [S]) -> RouteLookup {
        guard let candidates = bySegmentCount[segments.count] else { return .notFound }
        var best: Route?
        for route in candidates where route.method == method && Self.matches(route, segments) {
            if best == nil || route.literalCount > best!.literalCount { best = route }
        }
        if let route = best {
            var params: [String: String] = [:]
            for (seg, value) in zip(route.segments, segments) {
                if case .parameter(let name) = seg { params[name] = String(value) }
            }
            return .matched(route, parameters: params)
        }
        // Only a refusal pays for the Allow list.
        var allowed: Set<String> = []
        for route in candidates where Self.matches(route, segments) { allowed.insert(route.method) }
        if allowed.isEmpty { return .notFound }
        return .methodNotAllowed(allowed: allowed.sorted())
    }

    private static func matches<S: StringProtocol>(_ route: Route, _ segments: [S]) -> Bool {
        // Indices, not zip: every request scans a few dozen candidates, and zip's iterators
        // retained both arrays and each literal (they showed as the top retain site per request).
        let template = route.segments
        guard template.count == segments.count else { return false }
        for i in template.indices {
            switch template[i] {
            case .literal(let lit): if lit != segments[i] { return false }
            case .parameter: if segments[i].isEmpty { return false }
            }
        }
        return true
    }
}
