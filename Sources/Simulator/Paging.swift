/// `offset`/`limit` paging as Astro's lists use it: offset defaults to 0, limit to 20, both ≥ 0.
struct Paging: Sendable, Equatable {
    static let defaultLimit = 20

    let offset: Int
    let limit: Int

    init(offset: Int = 0, limit: Int = Paging.defaultLimit) {
        self.offset = offset
        self.limit = limit
    }

    /// Reads the query; `maximumLimit` is the documented cap (1000) where one exists.
    init(query: QueryParameters, maximumLimit: Int?) throws(ValidationFailure) {
        offset = try Self.integer(query.first("offset"), name: "offset", default: 0)
        limit = try Self.integer(query.first("limit"), name: "limit", default: Self.defaultLimit)
        if let maximumLimit, limit > maximumLimit {
            throw ValidationFailure("limit", "max", "limit must be at most \(maximumLimit)")
        }
    }

    private static func integer(_ text: String?, name: String, default fallback: Int) throws(ValidationFailure) -> Int {
        guard let text else { return fallback }
        guard let value = Int(text) else { throw ValidationFailure(name, "type", "\(name) must be an integer") }
        guard value >= 0 else { throw ValidationFailure(name, "min", "\(name) must be at least 0") }
        return value
    }

    /// The items of this page; empty past the end.
    func slice<T>(_ items: [T]) -> [T] {
        guard offset < items.count else { return [] }
        let (end, overflow) = offset.addingReportingOverflow(limit)
        return Array(items[offset..<(overflow ? items.count : min(end, items.count))])
    }
}
