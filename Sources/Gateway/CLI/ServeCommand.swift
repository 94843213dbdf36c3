import ArgumentParser
import Dispatch
import Foundation
import Logging
import Synchronization
import Upstream

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway: authenticate local keys, enforce policies, forward to Astro with a pooled token.",
        discussion: """
            Listens on listen.address:listen.port for clients (/v1/... and /_gateway/...) and on \
            admin.address:admin.port for /healthz, /readyz and /metrics. Org tokens are read from the \
            env:/file: references in upstream.pools (default env ASTRO_API_TOKEN). \
            SIGHUP reloads gateway.yaml, keys.yaml, policies.yaml and token files (the old configuration \
            stays if the new one is invalid). SIGTERM or SIGINT drains in-flight and queued requests \
            (shutdown.drainSeconds) and exits 0.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let config = try global.load()
        GatewayLogging.bootstrap(level: config.logLevel)
        let logger = Logger(label: "astro-gateway")
        let descriptors = DescriptorLimit.raise()
        let needed = DescriptorLimit.needed(
            connectionLimit: config.listen.connectionLimit, upstreamConnections: config.upstream.maxConnectionsPerHost)
        if descriptors.after < needed {
            logger.warning(
                "open-file limit (RLIMIT_NOFILE) is \(descriptors.after), below the \(needed) descriptors listen.connectionLimit and upstream.maxConnectionsPerHost may need: raise it (systemd: LimitNOFILE=) or lower listen.connectionLimit"
            )
        } else if descriptors.after > descriptors.before {
            logger.info("open-file limit raised from \(descriptors.before) to \(descriptors.after)")
        }
        let instance: GatewayInstance
        do {
            instance = try GatewayInstance(config: config, logger: logger)
            try instance.start()
        } catch {
            throw CommandFailure("\(error)")
        }
        var line = "astro-gateway listening on http://\(config.listen.address):\(instance.port)"
        if let adminPort = instance.adminPort { line += ", admin on http://\(config.admin!.address):\(adminPort)" }
        line +=
            config.upstream.simulate
            ? ", upstream: built-in simulator at \(instance.runtime.upstreamBase)"
            : ", upstream: \(config.upstream.baseURL)"
        // Which client carries it (upstream.plainHTTPClient and the URL decide; operations.md).
        if let transport = instance.runtime.transport as? CurlTransport {
            line += " (via \(transport.client(for: instance.runtime.upstreamBase + "/")))"
        }
        ServeCommand.log(line)
        await SignalWaiter.waitForTermination(
            onReload: {
                do {
                    let notes = try instance.reload()
                    ServeCommand.log("reload: configuration \(instance.holder.generation) in effect")
                    for note in notes { ServeCommand.log("reload: \(note)") }
                } catch {
                    ServeCommand.log("reload failed, the previous configuration stays: \(error)")
                }
            },
            onForce: {
                ServeCommand.log("second signal: exiting now without waiting for in-flight requests")
                Foundation.exit(1)
            })
        ServeCommand.log("shutting down: draining in-flight requests (up to \(config.drainSeconds)s)")
        instance.shutdown()
        ServeCommand.log("stopped")
    }
}

/// Waits for SIGTERM or SIGINT without blocking a cooperative thread. SIGHUP calls `onReload`
/// each time; a second SIGTERM/SIGINT calls `onForce` (the drain is taking too long).
enum SignalWaiter {
    static func waitForTermination(
        onReload: (@Sendable () -> Void)? = nil, onForce: (@Sendable () -> Void)? = nil
    ) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    if once.claim() { continuation.resume() } else { onForce?() }
                }
                source.resume()
                sources.append(source)
            }
            if let onReload {
                signal(SIGHUP, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
                source.setEventHandler { onReload() }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

extension ServeCommand {
    static func log(_ line: String) {
        Logger(label: "astro-gateway").notice("\(line)")
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    /// Invariant behind `@unchecked Sendable`: the array is set once in `init` and never mutated;
    /// DispatchSource objects are themselves thread-safe.
    final class Retained: @unchecked Sendable {
        let sources: [DispatchSourceSignal]
        init(_ sources: [DispatchSourceSignal]) { self.sources = sources }
    }
    private static let retained = Mutex<[Retained]>([])
    static func keep(_ sources: [DispatchSourceSignal]) { retained.withLock { $0.append(Retained(sources)) } }
}

/// True for exactly one caller of `claim()`.
final class OnceFlag: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
