import Foundation

/// Runs blocking work (socket calls) on its own thread and waits without holding a pool thread:
/// test clients that block on sockets must not occupy the cooperative pool the gateway's own
/// tasks need.
func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// Runs `count` blocking calls at once, each on its own thread; results in index order.
func concurrently<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) -> T) async -> [T] {
    await withTaskGroup(of: (Int, T).self) { group in
        for i in 0..<count {
            group.addTask { (i, await blocking { work(i) }) }
        }
        var out: [(Int, T)] = []
        for await result in group { out.append(result) }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
