import Synchronization

/// The current runtime generation. A reload swaps in a new one atomically; each request takes a
/// snapshot when it starts, so it finishes under the configuration it started with.
public final class RuntimeHolder: Sendable {
    private let runtime: Mutex<GatewayRuntime>
    private let drainingFlag = Atomic<Bool>(false)
    private let generationCounter = Atomic<Int>(1)

    public init(_ runtime: GatewayRuntime) { self.runtime = Mutex(runtime) }

    public var current: GatewayRuntime { runtime.withLock { $0 } }

    /// How many runtimes have been installed (1 at start, +1 per successful reload).
    public var generation: Int { generationCounter.load(ordering: .acquiring) }

    public func replace(with next: GatewayRuntime) {
        runtime.withLock { $0 = next }
        generationCounter.add(1, ordering: .acquiringAndReleasing)
    }

    /// Once set, new requests are answered 503 while in-flight ones finish.
    public var isDraining: Bool { drainingFlag.load(ordering: .acquiring) }
    public func startDraining() { drainingFlag.store(true, ordering: .releasing) }
}
