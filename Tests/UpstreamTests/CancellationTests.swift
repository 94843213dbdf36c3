import Synchronization
import Testing

@testable import Upstream

/// `Cancellation`: every registered action runs exactly once on `cancel()`, in order, whether one
/// or several were registered; none runs after `finish()`; one registered after cancelling runs
/// at once.
@Suite struct CancellationTests {
    final class Log: Sendable {
        let entries = Mutex<[Int]>([])
        func add(_ n: Int) { entries.withLock { $0.append(n) } }
        var all: [Int] { entries.withLock { $0 } }
    }

    @Test(arguments: [0, 1, 2, 5])
    func cancelRunsEachActionOnceInOrder(count: Int) {
        let log = Log()
        let cancellation = Cancellation()
        for i in 0..<count { cancellation.onCancel { log.add(i) } }
        #expect(log.all.isEmpty && !cancellation.isCancelled)
        cancellation.cancel()
        cancellation.cancel()
        #expect(log.all == Array(0..<count))
        #expect(cancellation.isCancelled)
        cancellation.onCancel { log.add(99) }
        #expect(log.all == Array(0..<count) + [99])
    }

    @Test func finishedWorkIsNeverCancelled() {
        let log = Log()
        let cancellation = Cancellation()
        cancellation.onCancel { log.add(1) }
        cancellation.onCancel { log.add(2) }
        cancellation.finish()
        cancellation.cancel()
        cancellation.onCancel { log.add(3) }
        #expect(log.all.isEmpty && !cancellation.isCancelled)
    }
}
