import ArgumentParser

/// The `astro-gateway` command and its subcommands.
public struct GatewayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "astro-gateway",
        abstract: "A self-hosted REST gateway in front of the Astro API v1.",
        discussion: """
            Internal services call the gateway with local keys (agw_...); the gateway checks what each \
            key may do and forwards allowed calls to Astro with a pooled organization token, pacing \
            them under Astro's per-token rate limits and auditing every request.
            """,
        subcommands: [
            ServeCommand.self, SimulateCommand.self, ConfigCommand.self, KeysCommand.self, PolicyCommand.self,
            AuditCommand.self,
        ]
    )
    public init() {}
}

extension GatewayCommand {
    /// Entry point for the executable: parses arguments and runs the chosen subcommand.
    public static func run() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
