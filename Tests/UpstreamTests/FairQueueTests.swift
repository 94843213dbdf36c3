import Testing

@testable import Upstream

@Suite struct FairQueueTests {
    @Test func aBurstyKeyDoesNotStarveALightKey() {
        var queue = FairQueue<Int>()
        for i in 0..<1000 { queue.enqueue(i, id: UInt64(i), key: "bursty") }
        queue.enqueue(-1, id: 5000, key: "light")
        // The light key is served within one rotation: at most one bursty element goes first.
        let first = queue.dequeue()!
        let second = queue.dequeue()!
        #expect(first.key == "light" || second.key == "light")
        #expect(queue.count == 999)
    }

    @Test func rotationIsRoundRobinAndOrderIsKeptPerKey() {
        var queue = FairQueue<String>()
        for i in 0..<3 {
            queue.enqueue("a\(i)", id: UInt64(i), key: "a")
            queue.enqueue("b\(i)", id: UInt64(10 + i), key: "b")
        }
        queue.enqueue("c0", id: 20, key: "c")
        var order: [String] = []
        while let next = queue.dequeue() { order.append(next.element) }
        #expect(order == ["a0", "b0", "c0", "a1", "b1", "a2", "b2"])
    }

    @Test func removeAndFront() {
        var queue = FairQueue<String>()
        queue.enqueue("a0", id: 1, key: "a")
        queue.enqueue("a1", id: 2, key: "a")
        queue.enqueue("b0", id: 3, key: "b")
        #expect(queue.remove(id: 2, key: "a") == "a1")
        #expect(queue.remove(id: 2, key: "a") == nil)
        queue.enqueue("b-retry", id: 4, key: "b", front: true)
        var order: [String] = []
        while let next = queue.dequeue() { order.append(next.element) }
        #expect(order == ["a0", "b-retry", "b0"])
        #expect(queue.isEmpty)
    }

    @Test func positionCountsOneRotationPerOwnElement() {
        var queue = FairQueue<Int>()
        for i in 0..<100 { queue.enqueue(i, id: UInt64(i), key: "bursty") }
        #expect(queue.positionForNewArrival(key: "light") == 1)
        #expect(queue.positionForNewArrival(key: "bursty") == 100)
    }
}
