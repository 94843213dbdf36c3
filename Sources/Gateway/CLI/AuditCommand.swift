import ArgumentParser
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify, query and summarize the audit log.",
        subcommands: [Verify.self, Query.self, Report.self])

    /// `--since`/`--until`: a duration ago (2h, 30m, 7d) or an RFC 3339 time.
    static func time(_ text: String?, option: String) throws -> Date? {
        guard let text else { return nil }
        guard let date = AuditQuery.parseTime(text) else {
            throw ValidationError("\(option): use 2h, 30m, 7d or RFC 3339")
        }
        return date
    }

    /// The audit directory (an explicit one wins) and the HMAC key from the config.
    static func locate(_ global: GlobalOptions, directory: String?, needKey: Bool) throws -> (String, [UInt8]?) {
        let config = try global.load()
        var key: [UInt8]?
        if needKey && config.audit.integrity == "hmac" {
            guard let reference = config.audit.hmacKey else { throw CommandFailure("audit.hmacKey is not configured") }
            do {
                key = Array(try reference.resolve().utf8)
            } catch {
                throw CommandFailure("\(error): the key is needed to verify the chain")
            }
        }
        return (directory ?? config.audit.directory, key)
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the MAC chain across every segment; exit 1 on the first broken record.",
            discussion: """
                Prints the first broken record (segment, line, seq, what is wrong), torn last lines \
                (a crash mid-write, not tampering), and writes whose intent has no outcome (they may \
                have reached Astro).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The audit directory (default: audit.directory from the config).") var directory: String?

        func run() throws {
            let (dir, key) = try AuditCommand.locate(global, directory: directory, needKey: true)
            let result = AuditVerifier.verify(directory: dir, key: key)
            print("\(dir): \(result.segments) segment(s), \(result.records) record(s) verified")
            if let startsAfter = result.startsAfter, let firstSeq = result.firstSeq {
                print(
                    "starts at seq \(firstSeq): the earlier segments (up to \(startsAfter)) are not in this directory (removed by retention, see the first header's note, or moved away); verified from there on"
                )
            }
            for torn in result.tornTails { print("torn tail: \(torn)") }
            for intent in result.openIntents {
                print(
                    "intent without outcome (may have reached Astro): \(intent.segment):\(intent.line) \(intent.gatewayRequestId) \(intent.method) \(intent.target)"
                )
            }
            if let broken = result.broken {
                print("BROKEN: \(broken)")
                throw ExitCode(1)
            }
            print(key == nil ? "chain intact (integrity none: links checked, MACs not)" : "chain intact")
        }
    }

    struct Query: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find records: who called what, when, with which Astro requestId.",
            discussion: "Filters combine with AND. Works across rotated segments.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Start: a duration ago (2h, 30m, 7d) or an RFC 3339 time.") var since: String?
        @Option(help: "End: a duration ago or an RFC 3339 time.") var until: String?
        @Option(help: "Key name or id.") var key: String?
        @Option(help: "operationId, e.g. CreateDeployment.") var operation: String?
        @Option(help: "Status code (403) or class (4xx).") var status: String?
        @Option(help: "A gateway request id or an Astro requestId.") var requestId: String?
        @Option(help: "allow, deny, shadow-deny, unauthenticated or invalid.") var decision: String?
        @Flag(help: "Print the matching records as JSON lines.") var json = false
        @Option(help: "The audit directory (default: from the config).") var directory: String?

        func run() throws {
            let (dir, _) = try AuditCommand.locate(global, directory: directory, needKey: false)
            var query = AuditQuery()
            query.since = try AuditCommand.time(since, option: "--since")
            query.until = try AuditCommand.time(until, option: "--until")
            query.key = key
            query.operation = operation
            query.status = status
            query.requestId = requestId
            query.decision = decision
            let matches = query.run(directory: dir)
            if json {
                for m in matches { print(m.line) }
                return
            }
            print("ts\tphase\tstatus\tdecision\tkey\toperation\tmethod target\tgatewayRequestId\tupstreamRequestId")
            for (r, _) in matches {
                let cells: [String] = [
                    r["ts"] as? String ?? "", r["phase"] as? String ?? "",
                    (r["status"] as? Int).map(String.init) ?? "-",
                    r["decision"] as? String ?? "-", r["keyName"] as? String ?? "-", r["operationId"] as? String ?? "-",
                    "\(r["method"] as? String ?? "") \(r["target"] as? String ?? "")",
                    r["gatewayRequestId"] as? String ?? "-",
                    r["upstreamRequestId"] as? String ?? "-",
                ]
                print(cells.joined(separator: "\t"))
            }
            print("\(matches.count) record(s)")
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Per key and operation: counts, error rates, denials, p50/p95 latency and queue wait, coalesced share, upstream 429s."
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "Start: a duration ago (2h, 30m, 7d) or an RFC 3339 time.") var since: String?
        @Option(help: "Also write a self-contained HTML report (inline SVG charts) to this file.") var html: String?
        @Option(help: "The audit directory (default: from the config).") var directory: String?

        func run() throws {
            let (dir, _) = try AuditCommand.locate(global, directory: directory, needKey: false)
            var query = AuditQuery()
            query.since = try AuditCommand.time(since, option: "--since")
            let report = AuditReport(records: query.run(directory: dir).map(\.object))
            print(report.text(), terminator: "")
            if let html {
                do {
                    try report.html(title: "astro-gateway audit report").write(
                        toFile: html, atomically: true, encoding: .utf8)
                } catch {
                    throw CommandFailure("cannot write \(html): \(error)")
                }
                print("wrote \(html)")
            }
        }
    }
}
