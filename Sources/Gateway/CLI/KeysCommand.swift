import ArgumentParser
import Foundation
import Policy

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list, revoke and rotate local keys (agw_<keyId>_<secret>).",
        discussion: """
            Keys live in the keys file named by the config (keys: keys.yaml). Only SHA-256 digests \
            of secrets are stored, so the file is safe to commit to a config repository. A key's \
            secret is printed once, by create and rotate, and never again. Edits are atomic \
            (temp file, fsync, rename). A running gateway picks changes up on reload (SIGHUP).
            """,
        subcommands: [Create.self, List.self, Revoke.self, Rotate.self])

    /// Loads the store (an absent file is an empty store) and the policies it must agree with.
    static func load(_ global: GlobalOptions) throws -> (GatewayConfig, KeyStore, PolicySet) {
        let config = try global.load()
        do {
            let policies = try RuntimeFiles.loadPolicies(config)
            let store: KeyStore
            if FileManager.default.fileExists(atPath: config.keysFile) {
                store = try RuntimeFiles.loadKeys(config, policies: policies)
            } else {
                store = try KeyStore()
            }
            return (config, store, policies)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// The contract's `--json` output: `{"id","name","policy","key"}` (the key shown once).
    static func printJSON(_ record: LocalKey, key: String) throws {
        let object = ["id": record.id, "name": record.name, "policy": record.policy, "key": key]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func save(_ store: KeyStore, config: GatewayConfig) throws {
        do {
            try AtomicFile.write(store.yaml(), to: config.keysFile)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key for a service and print it once.",
            discussion: "With --json prints {\"id\",\"name\",\"policy\",\"key\"}.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "A name for the key's holder, shown in logs, metrics and the audit log.") var name: String
        @Option(help: "The policy (from the policies file) that scopes this key.") var policy: String
        @Option(help: "Lifetime, e.g. 90d, 24h (default: no expiry).") var expires: String?
        @Option(help: "A free-text note stored with the key.") var note: String?
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() throws {
            let (config, existing, policies) = try KeysCommand.load(global)
            var store = existing
            guard policies.policy(named: policy) != nil else {
                throw CommandFailure(
                    "unknown policy '\(policy)' (defined in \(config.policiesFile): \(policies.policyNames.joined(separator: ", ")))"
                )
            }
            var expiry: Date?
            if let expires {
                guard let seconds = DurationArgument.seconds(expires), seconds > 0 else {
                    throw ValidationError("--expires takes a duration such as 90d, 24h or 30m")
                }
                expiry = Date().addingTimeInterval(seconds)
            }
            let (record, plaintext) = store.generate(
                name: name, policy: policy, expires: expiry, note: note, now: Date())
            try KeysCommand.save(store, config: config)
            if json {
                try KeysCommand.printJSON(record, key: plaintext)
            } else {
                print("created key \(record.id) (\(record.name), policy \(record.policy))")
                print("key (shown once, store it now): \(plaintext)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON lines instead of a table.") var json = false

        func run() throws {
            let (_, store, _) = try KeysCommand.load(global)
            let now = Date()
            let iso = ISO8601DateFormatter()
            for key in store.keys {
                let state = key.isRevoked(at: now) ? "revoked" : key.isExpired(at: now) ? "expired" : "active"
                if json {
                    var object: [String: Any] = [
                        "id": key.id, "name": key.name, "policy": key.policy, "state": state,
                        "created": iso.string(from: key.created), "secrets": key.digests.count,
                    ]
                    if let e = key.expires { object["expires"] = iso.string(from: e) }
                    if let r = key.revokedAt { object["revokedAt"] = iso.string(from: r) }
                    if let n = key.note { object["note"] = n }
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    let expires = key.expires.map { iso.string(from: $0) } ?? "-"
                    print(
                        "\(key.id)  \(state.padding(toLength: 8, withPad: " ", startingAt: 0))  \(key.name)  policy=\(key.policy)  expires=\(expires)"
                    )
                }
            }
            if !json && store.keys.isEmpty { print("no keys") }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key now (it stops working on the next reload).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key id (the part after agw_).") var id: String

        func run() throws {
            let (config, existing, _) = try KeysCommand.load(global)
            var store = existing
            do {
                try store.revoke(id: id, now: Date())
            } catch {
                throw CommandFailure("\(error)")
            }
            try KeysCommand.save(store, config: config)
            print("revoked key \(id)")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a key a new secret; the old one keeps working until the grace period ends.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key id (the part after agw_).") var id: String
        @Option(help: "How long the old secret keeps working, e.g. 24h (default 24h; 0s ends it now).") var grace =
            "24h"
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() throws {
            guard let seconds = DurationArgument.seconds(grace) else {
                throw ValidationError("--grace takes a duration such as 24h, 30m or 0s")
            }
            let (config, existing, _) = try KeysCommand.load(global)
            var store = existing
            let record: LocalKey
            let plaintext: String
            do {
                (record, plaintext) = try store.rotate(id: id, grace: seconds, now: Date())
            } catch {
                throw CommandFailure("\(error)")
            }
            try KeysCommand.save(store, config: config)
            if json {
                try KeysCommand.printJSON(record, key: plaintext)
            } else {
                print("rotated key \(id); the old secret works for \(grace) more")
                print("new key (shown once, store it now): \(plaintext)")
            }
        }
    }
}
