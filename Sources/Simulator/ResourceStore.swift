/// The simulator's state: resources grouped by the concrete path of their collection.
///
/// A collection is named by its decoded path segments (`["organizations", "clorg1", "deployments"]`),
/// so children of different parents never mix and a deleted parent takes its children with it.
struct ResourceStore: Sendable {
    private struct Collection: Sendable {
        var order: [String] = []
        var items: [String: JSONObject] = [:]
    }

    private var collections: [[String]: Collection] = [:]

    func item(in collection: [String], id: String) -> JSONObject? { collections[collection]?.items[id] }

    /// Items in creation order.
    func items(in collection: [String]) -> [JSONObject] {
        guard let stored = collections[collection] else { return [] }
        return stored.order.compactMap { stored.items[$0] }
    }

    /// Inserts or replaces; a new id goes to the end of the creation order.
    mutating func put(_ object: JSONObject, in collection: [String], id: String) {
        var stored = collections[collection, default: Collection()]
        if stored.items.updateValue(object, forKey: id) == nil { stored.order.append(id) }
        collections[collection] = stored
    }

    /// Removes an item and every collection beneath it; false when there was no such item.
    @discardableResult
    mutating func remove(from collection: [String], id: String) -> Bool {
        guard collections[collection]?.items.removeValue(forKey: id) != nil else { return false }
        collections[collection]?.order.removeAll { $0 == id }
        let itemPath = collection + [id]
        for key in collections.keys where key.count > itemPath.count && Array(key.prefix(itemPath.count)) == itemPath {
            collections.removeValue(forKey: key)
        }
        return true
    }
}
