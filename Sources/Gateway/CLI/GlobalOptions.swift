import ArgumentParser

/// Options every subcommand takes.
public struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The gateway config file (keys.yaml and policies.yaml are found beside it).", valueName: "file"))
    public var config: String = "config/gateway.yaml"

    public init() {}

    func load() throws -> GatewayConfig {
        do {
            return try GatewayConfig.load(path: config)
        } catch let error as ConfigError {
            throw CommandFailure(error.description)
        }
    }
}
