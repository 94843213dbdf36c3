import ArgumentParser

/// The `astro-gateway` command and its subcommands.
public struct GatewayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "astro-gateway",
        abstract: "A self-hosted REST gateway in front of the Astro API v1.",
        subcommands: []
    )
    public init() {}
}
