import ArgumentParser
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the gateway configuration.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the config (and resolve every secret reference); exit non-zero on the first error.",
            discussion: "Errors name the file, the line and the key path. Secret values are never printed.")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let config = try global.load()
            do {
                _ = try config.resolveTokens()
            } catch {
                throw CommandFailure("\(error)")
            }
            print("\(config.file): OK (pools: \(config.upstream.pools.keys.sorted().joined(separator: ", ")))")
        }
    }
}
