import Foundation
import Synchronization

/// Remembers, per local key and `Idempotency-Key`, the first request's fingerprint (method,
/// target, body digest) and its final response, for `ttl`. A repeat with the same fingerprint is
/// answered from here without calling Astro; the same key with a different fingerprint is a
/// client error (422); a repeat while the first is in flight waits for it. Bounded: past
/// `maxEntries` the oldest completed entries are evicted. Completed entries are appended to a
/// JSON Lines file so they survive restarts.
public final class IdempotencyStore: Sendable {
    public struct Stored: Sendable, Codable, Equatable {
        public var status: Int
        public var headers: [[String]]
        public var body: Data

        public init(status: Int, headers: [[String]], body: Data) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    struct Entry: Sendable {
        var fingerprint: String
        var stored: Stored?
        var expires: Double
        var waiters: [CheckedContinuation<Stored?, Never>] = []
    }

    struct Persisted: Codable {
        var scope: String
        var fingerprint: String
        var expires: Double
        var stored: Stored
    }

    public enum Claim: Sendable, Equatable {
        /// First of its kind: perform it, then `complete` or `abandon`.
        case proceed
        /// Answered before: replay this.
        case replay(Stored)
        /// Same idempotency key, different request.
        case mismatch
    }

    public let ttl: Double
    public let maxEntries: Int
    private let file: String?
    private let entries = Mutex<[String: Entry]>([:])
    private let clock: @Sendable () -> Double

    /// Wall-clock seconds: entries must expire correctly across restarts.
    public static func wallClock() -> Double { Date().timeIntervalSince1970 }

    public init(
        ttl: Double = 86400, maxEntries: Int = 100_000, file: String? = nil,
        clock: @escaping @Sendable () -> Double = IdempotencyStore.wallClock
    ) {
        self.ttl = ttl
        self.maxEntries = maxEntries
        self.file = file
        self.clock = clock
        if let file { load(file) }
    }

    public var count: Int { entries.withLock { $0.count } }

    static func scope(keyId: String, idempotencyKey: String) -> String { keyId + "\u{0}" + idempotencyKey }

    /// Claims `idempotencyKey` for `keyId`. Waits while an identical request is in flight.
    public func claim(keyId: String, idempotencyKey: String, fingerprint: String) async -> Claim {
        let scope = Self.scope(keyId: keyId, idempotencyKey: idempotencyKey)
        while true {
            let now = clock()
            enum Step { case done(Claim), wait }
            let step: Step = entries.withLock { entries in
                if let entry = entries[scope], entry.expires > now {
                    if entry.fingerprint != fingerprint { return .done(.mismatch) }
                    if let stored = entry.stored { return .done(.replay(stored)) }
                    return .wait
                }
                entries[scope] = Entry(fingerprint: fingerprint, stored: nil, expires: now + ttl)
                return .done(.proceed)
            }
            switch step {
            case .done(let claim): return claim
            case .wait:
                let stored = await withCheckedContinuation { (c: CheckedContinuation<Stored?, Never>) in
                    let registered = entries.withLock { entries -> Bool in
                        guard var entry = entries[scope], entry.stored == nil else { return false }
                        entry.waiters.append(c)
                        entries[scope] = entry
                        return true
                    }
                    if !registered { c.resume(returning: nil) }
                }
                if let stored { return .replay(stored) }
            // The first attempt was abandoned (or finished meanwhile): claim again.
            }
        }
    }

    /// Stores the final response of a claimed request and wakes waiting repeats.
    public func complete(keyId: String, idempotencyKey: String, response: Stored) {
        let scope = Self.scope(keyId: keyId, idempotencyKey: idempotencyKey)
        let (waiters, persisted) = entries.withLock { entries -> ([CheckedContinuation<Stored?, Never>], Persisted?) in
            guard var entry = entries[scope] else { return ([], nil) }
            entry.stored = response
            let waiters = entry.waiters
            entry.waiters = []
            entries[scope] = entry
            evictIfNeeded(&entries)
            return (
                waiters,
                Persisted(scope: scope, fingerprint: entry.fingerprint, expires: entry.expires, stored: response)
            )
        }
        if let persisted { append(persisted) }
        for waiter in waiters { waiter.resume(returning: response) }
    }

    /// Releases a claim whose request produced no final answer (never sent, Astro said 429):
    /// a retry may try again.
    public func abandon(keyId: String, idempotencyKey: String) {
        let scope = Self.scope(keyId: keyId, idempotencyKey: idempotencyKey)
        let waiters = entries.withLock { entries -> [CheckedContinuation<Stored?, Never>] in
            guard let entry = entries[scope], entry.stored == nil else { return [] }
            entries[scope] = nil
            return entry.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    private func evictIfNeeded(_ entries: inout [String: Entry]) {
        let now = clock()
        if entries.count > maxEntries {
            for (scope, entry) in entries where entry.expires <= now && entry.waiters.isEmpty { entries[scope] = nil }
        }
        if entries.count > maxEntries {
            let completed = entries.filter { $0.value.stored != nil }.sorted { $0.value.expires < $1.value.expires }
            for (scope, _) in completed.prefix(entries.count - maxEntries) { entries[scope] = nil }
        }
    }

    // MARK: - Persistence (JSON Lines; last line for a scope wins; expired lines dropped on load)

    private func append(_ persisted: Persisted) {
        guard let file, let data = try? JSONEncoder().encode(persisted) else { return }
        let fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let line = Array(data) + [10]
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    private func load(_ file: String) {
        guard let data = FileManager.default.contents(atPath: file) else { return }
        let now = clock()
        var kept: [String: Entry] = [:]
        for line in data.split(separator: 10) {
            guard let p = try? JSONDecoder().decode(Persisted.self, from: Data(line)), p.expires > now else { continue }
            kept[p.scope] = Entry(fingerprint: p.fingerprint, stored: p.stored, expires: p.expires)
        }
        entries.withLock {
            $0 = kept
            evictIfNeeded(&$0)
        }
        // Compact: rewrite only live entries (temp file, then rename).
        let temp = file + ".tmp"
        let live = entries.withLock { $0 }
        var out = Data()
        for (scope, entry) in live {
            if let stored = entry.stored,
                let d = try? JSONEncoder().encode(
                    Persisted(scope: scope, fingerprint: entry.fingerprint, expires: entry.expires, stored: stored))
            {
                out.append(d)
                out.append(10)
            }
        }
        if FileManager.default.createFile(atPath: temp, contents: out, attributes: [.posixPermissions: 0o600]) {
            _ = rename(temp, file)
        }
    }
}
