import Foundation
import Testing

@testable import Gateway

/// Audit retention (`audit.retainSegments`, `audit.retainDays`): applied when a segment starts,
/// it removes the oldest segments only, says what it removed in the new segment's header, and
/// what is left still verifies.
@Suite(.serialized, .offThePool) struct AuditRetentionTests {
    let key = Array("audit-retention-key-0123456789".utf8)

    /// 2026-11-20T00:00:00Z plus `days` days and `hours` hours.
    func date(day days: Double, hour hours: Double = 0) -> Date {
        Date(timeIntervalSince1970: 1_795_132_800 + days * 86400 + hours * 3600)
    }

    func record(_ i: Int) -> AuditRecord {
        var record = AuditRecord()
        record.gatewayRequestId = "req-\(i)"
        record.decision = "allow"
        record.status = 200
        return record
    }

    @Test func theStartDayIsReadFromTheSegmentName() {
        #expect(AuditSegments.startDay("audit-20261129T101500-000000000042.jsonl") == "2026-11-29")
        #expect(AuditSegments.startDay("audit-20261129T101500-000000000042_1.jsonl") == "2026-11-29")
        #expect(AuditSegments.startDay(AuditSegments.name(now: date(day: 0), nextSeq: 1)) == "2026-11-20")
        for name in [
            "audit-2026112T101500-1.jsonl", "audit-2026x129T101500-1.jsonl", "audit-.jsonl", "notes.txt",
            "audit-20261129T101500-1.json", "",
        ] {
            #expect(AuditSegments.startDay(name) == nil, "\(name)")
        }
    }

    @Test func expiryIsAlwaysTheOldestAndHonoursBothBounds() {
        let names = (0..<6).map { AuditSegments.name(now: date(day: Double($0)), nextSeq: 1 + $0 * 10) }
        let now = date(day: 6)  // 2026-11-26
        #expect(AuditSegments.expired(names, now: now, retainSegments: nil, retainDays: nil).isEmpty)
        // Counting the segment being started: 3 kept means 2 of the 6 stay.
        #expect(AuditSegments.expired(names, now: now, retainSegments: 3, retainDays: nil) == Array(names.prefix(4)))
        #expect(AuditSegments.expired(names, now: now, retainSegments: 100, retainDays: nil).isEmpty)
        // 2 days: today (the 26th) and the two days before it stay: the 24th and 25th.
        #expect(AuditSegments.expired(names, now: now, retainSegments: nil, retainDays: 2) == Array(names.prefix(4)))
        #expect(AuditSegments.expired(names, now: now, retainSegments: nil, retainDays: 5) == Array(names.prefix(1)))
        #expect(AuditSegments.expired(names, now: now, retainSegments: nil, retainDays: 30).isEmpty)
        // Both: whichever removes more.
        #expect(AuditSegments.expired(names, now: now, retainSegments: 6, retainDays: 2) == Array(names.prefix(4)))
        #expect(AuditSegments.expired(names, now: now, retainSegments: 2, retainDays: 30) == Array(names.prefix(5)))
        // A name whose day cannot be read stops removal by age there (never a gap in the chain).
        var odd = names
        odd[1] = "audit-unreadable.jsonl"
        #expect(AuditSegments.expired(odd, now: now, retainSegments: nil, retainDays: 2) == Array(odd.prefix(1)))
    }

    /// Eight days of a real log, a segment a day (plus a size rotation): by age, and by count.
    @Test(arguments: [(nil, 2), (3, nil)] as [(Int?, Int?)])
    func retentionRemovesOldSegmentsAndTheRestVerifies(retainSegments: Int?, retainDays: Int?) throws {
        let dir = NSTemporaryDirectory() + "agw-retention-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let core = WriterCore(
            options: .init(directory: dir, key: key, retainSegments: retainSegments, retainDays: retainDays),
            files: PosixAuditFileSystem(), lastSeq: 0, lastMac: "")
        var n = 0
        var headers: [String] = []
        for day in 0..<8 {
            for hour in [1.0, 13.0] {
                n += 1
                // The first record of a UTC day starts a new segment (the rotation under test).
                _ = try core.append([record(n)], now: date(day: Double(day), hour: hour))
            }
            if day == 7 {
                // A second segment on the last day (as a size rotation would start).
                try core.openSegment(now: date(day: 7, hour: 14))
                n += 1
                _ = try core.append([record(n)], now: date(day: 7, hour: 14))
            }
            let newest = try #require(AuditSegments.list(dir).last)
            headers.append(try #require(AuditSegments.lines(of: dir + "/" + newest)?.lines.first))
        }
        core.closeSegment()
        let left = AuditSegments.list(dir)
        if let retainSegments { #expect(left.count == retainSegments, "\(left)") }
        if let retainDays {
            // The last day is 2026-11-27: it and the two days before it (25th, 26th) stay.
            #expect(
                left.compactMap(AuditSegments.startDay) == ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-27"])
            #expect(retainDays == 2)
        }
        // The newest records are all there; every removal was named in a header.
        let ids = AuditQuery().run(directory: dir).compactMap { $0.object["gatewayRequestId"] as? String }
        #expect(ids.last == "req-\(n)")
        #expect(headers.contains { $0.contains("retention removed") }, "\(headers)")
        // What is left verifies: the first segment's header names a predecessor that is gone,
        // and the verification says where the log now starts.
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.ok, "\(String(describing: result.broken))")
        let startsAfter = try #require(result.startsAfter, "the verification did not say the log starts late")
        #expect(AuditSegments.isSegmentName(startsAfter) && !left.contains(startsAfter), "\(startsAfter)")
        #expect((result.firstSeq ?? 0) > 1)
    }

    @Test func aWholeLogStartsAtSeqOneWithNothingBefore() throws {
        let dir = NSTemporaryDirectory() + "agw-retention-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let core = WriterCore(
            options: .init(directory: dir, key: key, retainSegments: 10), files: PosixAuditFileSystem(), lastSeq: 0,
            lastMac: "")
        for day in 0..<3 { _ = try core.append([record(day)], now: date(day: Double(day), hour: 1)) }
        core.closeSegment()
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.ok && result.segments == 3)
        #expect(result.startsAfter == nil)
        #expect(result.firstSeq == 1)
    }

    @Test func theConfigurationTakesRetainDays() throws {
        func parse(_ audit: String) throws -> GatewayConfig {
            try GatewayConfig.parse(
                text: "upstream: { simulate: true }\naudit: { integrity: none\(audit) }\n",
                file: "/etc/agw/gateway.yaml")
        }
        #expect(try parse("").audit.retainDays == nil)
        #expect(try parse(", retainDays: 90").audit.retainDays == 90)
        for bad in [", retainDays: 0", ", retainDays: -1", ", retainDays: ninety"] {
            do {
                _ = try parse(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect("\(error)".contains("audit.retainDays"), "\(error)")
            }
        }
    }
}
