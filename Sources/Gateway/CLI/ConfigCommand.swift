import ArgumentParser
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the gateway configuration.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the config, policies and keys, and resolve every secret reference.",
            discussion: """
                Exits non-zero on the first error. Errors name the file, the line and the key path. \
                Secret values are never printed.
                """)

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let config = try global.load()
            do {
                _ = try config.resolveTokens()
                let policies = try RuntimeFiles.loadPolicies(config)
                let keys = try RuntimeFiles.loadKeys(config, policies: policies)
                if config.audit.integrity == "hmac" { _ = try config.audit.hmacKey?.resolve() }
                print("\(config.file): OK")
                print("  pools:    \(config.upstream.pools.keys.sorted().joined(separator: ", "))")
                print("  policies: \(policies.policyNames.joined(separator: ", ")) (\(config.policiesFile))")
                print("  keys:     \(keys.count) (\(config.keysFile))")
            } catch {
                throw CommandFailure("\(error)")
            }
        }
    }
}
