/// The `sorts` query of a list: repeated `field:asc` / `field:desc`, applied in order, stable.
struct ListSorting: Sendable {
    struct Key: Sendable, Equatable {
        let field: String
        let ascending: Bool
    }

    let keys: [Key]

    init(_ values: [String]) throws(ValidationFailure) {
        var keys: [Key] = []
        for value in values {
            guard let colon = value.lastIndex(of: ":"), colon != value.startIndex else {
                throw ValidationFailure("sorts", "format", "sorts entries must look like field:asc or field:desc")
            }
            let field = String(value[..<colon])
            switch value[value.index(after: colon)...] {
            case "asc": keys.append(Key(field: field, ascending: true))
            case "desc": keys.append(Key(field: field, ascending: false))
            default: throw ValidationFailure("sorts", "format", "sort direction must be asc or desc")
            }
        }
        self.keys = keys
    }

    func apply(to items: [JSONObject]) -> [JSONObject] {
        guard !keys.isEmpty else { return items }
        return items.enumerated().sorted { left, right in
            for key in keys {
                let order = Self.compare(left.element[key.field], right.element[key.field])
                if order != 0 { return key.ascending ? order < 0 : order > 0 }
            }
            return left.offset < right.offset
        }.map(\.element)
    }

    /// Missing < null < booleans < numbers < strings < anything else (by its JSON text).
    static func compare(_ left: JSONValue?, _ right: JSONValue?) -> Int {
        let (leftRank, rightRank) = (rank(left), rank(right))
        if leftRank != rightRank { return leftRank < rightRank ? -1 : 1 }
        switch (left, right) {
        case (.bool(let a)?, .bool(let b)?): return a == b ? 0 : (!a ? -1 : 1)
        case (.string(let a)?, .string(let b)?): return a == b ? 0 : (a < b ? -1 : 1)
        case (let a?, let b?) where leftRank == 3:
            let (x, y) = (number(a), number(b))
            return x == y ? 0 : (x < y ? -1 : 1)
        case (let a?, let b?):
            let (x, y) = (a.serialized, b.serialized)
            return x == y ? 0 : (x < y ? -1 : 1)
        default: return 0
        }
    }

    private static func rank(_ value: JSONValue?) -> Int {
        switch value {
        case nil: 0
        case .null?: 1
        case .bool?: 2
        case .integer?, .double?: 3
        case .string?: 4
        default: 5
        }
    }

    private static func number(_ value: JSONValue) -> Double {
        switch value {
        case .integer(let int): Double(int)
        case .double(let double): double
        default: 0
        }
    }
}
