/// Per-key sub-queues served round robin, so one key's burst cannot starve another key: a key
/// that joins with one request is served within one rotation (deficit round robin with cost 1).
public struct FairQueue<Element>: Sendable where Element: Sendable {
    private var queues: [String: [(id: UInt64, element: Element)]] = [:]
    /// Keys with work, in service order; the head is served next.
    private var rotation: [String] = []
    private var rotationHead = 0
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// Appends `element` to `key`'s sub-queue (or puts it first, for a request re-queued after an
    /// upstream 429, which must not lose its place).
    public mutating func enqueue(_ element: Element, id: UInt64, key: String, front: Bool = false) {
        if queues[key] == nil || queues[key]!.isEmpty {
            queues[key] = []
            if front {
                rotation.insert(key, at: rotationHead)
            } else {
                rotation.append(key)
            }
        }
        if front { queues[key]!.insert((id, element), at: 0) } else { queues[key]!.append((id, element)) }
        count += 1
    }

    /// Takes the next element in fair order.
    public mutating func dequeue() -> (id: UInt64, key: String, element: Element)? {
        guard count > 0 else { return nil }
        if rotationHead >= rotation.count { rotationHead = 0 }
        let key = rotation[rotationHead]
        let item = queues[key]!.removeFirst()
        count -= 1
        if queues[key]!.isEmpty {
            queues[key] = nil
            rotation.remove(at: rotationHead)
        } else {
            rotationHead += 1
        }
        if rotationHead >= rotation.count { rotationHead = 0 }
        compactIfNeeded()
        return (item.id, key, item.element)
    }

    public func contains(id: UInt64, key: String) -> Bool {
        queues[key]?.contains { $0.id == id } ?? false
    }

    /// Removes one element (its client left, or its deadline passed).
    public mutating func remove(id: UInt64, key: String) -> Element? {
        guard let index = queues[key]?.firstIndex(where: { $0.id == id }) else { return nil }
        let item = queues[key]!.remove(at: index)
        count -= 1
        if queues[key]!.isEmpty {
            queues[key] = nil
            if let r = rotation.firstIndex(of: key) {
                rotation.remove(at: r)
                if r < rotationHead { rotationHead -= 1 }
            }
            if rotationHead >= rotation.count { rotationHead = 0 }
        }
        return item.element
    }

    /// How many elements wait ahead of a new arrival of `key`, counting one rotation per element
    /// already queued for that key: an upper bound for the wait of a new element.
    public func positionForNewArrival(key: String) -> Int {
        let own = queues[key]?.count ?? 0
        var ahead = 0
        for (other, queue) in queues where other != key { ahead += min(queue.count, own + 1) }
        return ahead + own
    }

    public mutating func removeAll() -> [Element] {
        var all: [Element] = []
        for key in rotation { all.append(contentsOf: queues[key]!.map(\.element)) }
        queues = [:]
        rotation = []
        rotationHead = 0
        count = 0
        return all
    }

    private mutating func compactIfNeeded() {}
}
