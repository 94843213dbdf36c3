import ArgumentParser
import Foundation
import Simulator

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the built-in Astro API v1 simulator on its own (for demos, tests and benchmarks).",
        discussion: """
            Serves /v1/... like api.astronomer.io: a stateful, in-memory Astro with the same routes, \
            per-token limits (GET 25/s, POST 10/s, DELETE 5/s), error shape and request ids. \
            It accepts the org tokens of the config's pools (resolved from their env:/file: \
            references) plus any --token given here.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Address to listen on.") var address = "127.0.0.1"
    @Option(help: "Port to listen on (0: pick a free one and print it).") var port = 4010
    @Option(name: .customLong("token"), help: "An accepted token as ID=SECRET (repeatable).") var tokens: [String] = []
    @Option(help: "Fixed latency added to every answer, in seconds.") var latency: Double = 0
    @Option(help: "Fraction of requests answered 500 (0 to 1).") var errorRate: Double = 0
    @Flag(help: "Do not enforce the per-token rate limits.") var noLimits = false
    @Option(help: "Server threads.") var threads = 2

    func run() async throws {
        var accepted: [String: String] = [:]
        if FileManager.default.fileExists(atPath: global.config), let config = try? global.load(),
            let resolved = try? config.resolveTokens()
        {
            for list in resolved.values { for token in list { accepted[token.secret] = token.id } }
        }
        for spec in tokens {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw ValidationError("--token takes ID=SECRET")
            }
            accepted[String(spec[spec.index(after: eq)...])] = String(spec[..<eq])
        }
        guard !accepted.isEmpty else {
            throw ValidationError("no token to accept: give --token ID=SECRET or a config whose pool tokens resolve")
        }
        let simulator = AstroSimulator(
            config: SimulatorConfig(
                tokens: accepted, enforceLimits: !noLimits, latencySeconds: latency, errorRate: errorRate))
        let server = HTTPServer(
            options: ServerOptions(address: address, port: port, threads: threads),
            handler: SimulatorHandler(simulator: simulator))
        try server.start()
        print(
            "astro simulator listening on http://\(address):\(server.port)/v1 (tokens: \(accepted.values.sorted().joined(separator: ", ")))"
        )
        await SignalWaiter.waitForTermination()
        server.stop(timeoutSeconds: 2)
    }
}
