import Foundation
import Testing

/// Runs each test of a suite on `BlockingTestExecutor` instead of Swift's cooperative pool.
///
/// Why: the end-to-end tests make blocking socket calls (a raw HTTP client reading an answer,
/// a scripted upstream), often from synchronous test functions. The cooperative pool has one
/// thread per core (two here); two such suites side by side (`swift test` runs suites in
/// parallel) hold both, and the gateway under test needs the pool for its own tasks (retries,
/// writes, the audit writer's hand-offs), so requests waited until the test's socket timed out.
/// Under this trait a test's body (and its child tasks) runs on threads that may block; the
/// gateway's own tasks, which do not inherit the preference, keep the pool to themselves.
struct OffThePool: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // The suite itself only groups its tests: its scope is passed through.
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(BlockingTestExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OffThePool {
    /// Test bodies that block (sockets, processes) run off Swift's cooperative pool.
    static var offThePool: Self { OffThePool() }
}

/// A task executor whose threads may block: a job runs on an idle thread, or on a new one when
/// none is idle, so a blocked job never keeps another from running. Idle threads end after 30 s.
///
/// Invariant behind `@unchecked Sendable`: `jobs` and `idle` are only touched with `condition`
/// locked; a job is taken from the queue by exactly one thread.
final class BlockingTestExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = BlockingTestExecutor()

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    /// Threads waiting for a job.
    private var idle = 0

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        // More jobs waiting than idle threads to take them: one more thread.
        let spawn = jobs.count > idle
        if !spawn { condition.signal() }
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in work() }
            thread.name = "test-blocking"
            thread.start()
        }
    }

    private func work() {
        condition.lock()
        while true {
            while jobs.isEmpty {
                idle += 1
                let woken = condition.wait(until: Date().addingTimeInterval(30))
                idle -= 1
                if !woken && jobs.isEmpty {
                    condition.unlock()
                    return
                }
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
            condition.lock()
        }
    }
}
