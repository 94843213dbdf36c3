import Foundation
import Synchronization
import Testing

@testable import Gateway

/// The audit chain and its writer, on a real directory.
@Suite(.serialized, .offThePool) struct AuditLogTests {
    let key = Array("audit-test-key-0123456789".utf8)

    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "agw-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func record(_ i: Int, phase: String = "request") -> AuditRecord {
        var r = AuditRecord()
        r.phase = phase
        r.gatewayRequestId = "req-\(i)"
        r.method = i % 3 == 0 ? "POST" : "GET"
        r.target = "/v1/organizations/clorg1/deployments?i=\(i)&q=\"quoted\"\\\n\u{1}"
        r.status = 200
        r.keyName = "k\(i % 7)"
        r.totalMs = Double(i) / 10
        return r
    }

    /// Appends `count` records, `width` at a time.
    func fill(_ writer: AuditWriter, count: Int, width: Int = 500) async throws {
        var next = 0
        while next < count {
            let upper = min(count, next + width)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in next..<upper { group.addTask { try await writer.append(self.record(i)) } }
                try await group.waitForAll()
            }
            next = upper
        }
    }

    func segments(_ dir: String) -> [String] { AuditSegments.list(dir) }

    func lines(_ dir: String, _ name: String) -> [String] { AuditSegments.lines(of: dir + "/" + name)!.lines }

    func write(_ lines: [String], _ dir: String, _ name: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }

    @Test func canonicalEncodingEscapesAndKeepsFieldOrder() throws {
        var r = record(1)
        r.seq = 9
        r.prev = "abc"
        let line = r.line(mac: String(repeating: "0", count: 64))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["target"] as? String == r.target)
        #expect(object["upstreamRequestId"] is NSNull)
        #expect(line.hasPrefix("{\"ts\":"))
        #expect(line.contains("\"prev\":\"abc\",\"mac\":\""))
        let split = try #require(AuditChain.split(line: String(line.dropLast())))
        #expect(split.canonical == r.canonical())
    }

    @Test func hundredThousandRecordsAcrossRotationsVerify() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try AuditWriter(
            options: .init(directory: dir, key: key, fsyncIntervalMs: 50, segmentMaxBytes: 4 << 20))
        try await fill(writer, count: 100_000)
        await writer.close()
        #expect(segments(dir).count >= 5)
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.ok, "\(String(describing: result.broken))")
        #expect(result.records == 100_000 + segments(dir).count)
        #expect(result.tornTails.isEmpty)
    }

    /// Builds a small log of three segments to tamper with.
    func smallLog() async throws -> String {
        let dir = try tempDir()
        for round in 0..<3 {
            let writer = try AuditWriter(options: .init(directory: dir, key: key))
            for i in 0..<20 { try await writer.append(record(round * 100 + i)) }
            await writer.close()
        }
        #expect(segments(dir).count == 3)
        #expect(AuditVerifier.verify(directory: dir, key: key).ok)
        return dir
    }

    @Test func everyTamperingKindIsDetectedWhereItHappened() async throws {
        typealias Tamper = (String, [String]) throws -> Void
        let cases: [(String, Int, Int, String, (inout [String]) -> Void)] = [
            (
                "edit a field", 1, 6, "mac does not verify",
                { $0[5] = $0[5].replacingOccurrences(of: "\"status\":200", with: "\"status\":201") }
            ),
            ("delete a line", 1, 6, "seq", { $0.remove(at: 5) }),
            ("swap two lines", 1, 6, "seq", { $0.swapAt(5, 6) }),
            ("truncate the middle", 1, 4, "seq", { $0.removeSubrange(3..<9) }),
        ]
        for (kind, segmentIndex, line, reason, tamper) in cases {
            let dir = try await smallLog()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let name = segments(dir)[segmentIndex]
            var content = lines(dir, name)
            tamper(&content)
            try write(content, dir, name)
            let result = AuditVerifier.verify(directory: dir, key: key)
            let broken = try #require(result.broken, "\(kind) not detected")
            #expect(broken.segment == name, "\(kind)")
            #expect(broken.line == line, "\(kind): \(broken)")
            #expect(broken.reason.contains(reason), "\(kind): \(broken)")
        }
    }

    @Test func droppingASegmentIsDetected() async throws {
        let dir = try await smallLog()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = segments(dir)
        try FileManager.default.removeItem(atPath: dir + "/" + names[1])
        let broken = try #require(AuditVerifier.verify(directory: dir, key: key).broken)
        #expect(broken.segment == names[2])
        #expect(broken.line == 1)
    }

    @Test func reMACingWithoutTheKeyIsDetected() async throws {
        let dir = try await smallLog()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = segments(dir)[2]
        var content = lines(dir, name)
        // A forger edits line 4 and recomputes every later mac with a key of their own.
        let forger = AuditChain(key: Array("not-the-key".utf8))
        var prev = AuditChain.split(line: content[2])!.mac!
        for i in 3..<content.count {
            let object = try JSONSerialization.jsonObject(with: Data(content[i].utf8)) as! [String: Any]
            var canonical = AuditChain.split(line: content[i])!.canonical
            canonical = canonical.replacingOccurrences(
                of: "\"prev\":\"\(object["prev"] as! String)\"", with: "\"prev\":\"\(prev)\"")
            if i == 3 { canonical = canonical.replacingOccurrences(of: "\"status\":200", with: "\"status\":204") }
            let mac = forger.mac(prev: prev, canonical: canonical)!
            content[i] = String(canonical.dropLast()) + ",\"mac\":\"\(mac)\"}"
            prev = mac
        }
        try write(content, dir, name)
        let broken = try #require(AuditVerifier.verify(directory: dir, key: key).broken)
        #expect(broken.segment == name && broken.line == 4)
        #expect(broken.reason.contains("mac does not verify"))
    }

    @Test func aTornTailIsReportedAsSuchAndTheNextStartRepairsByANewSegment() async throws {
        let dir = try await smallLog()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let last = segments(dir).last!
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/" + last))
        handle.seekToEndOfFile()
        handle.write(Data("{\"ts\":\"2026-01-01T00:00:00.000Z\",\"seq\":99,\"pha".utf8))
        try handle.close()
        let torn = AuditVerifier.verify(directory: dir, key: key)
        #expect(torn.ok)
        #expect(torn.tornTails.count == 1)
        #expect(torn.tornTails.first?.segment == last)
        let writer = try AuditWriter(options: .init(directory: dir, key: key))
        for i in 0..<5 { try await writer.append(record(900 + i)) }
        await writer.close()
        let after = AuditVerifier.verify(directory: dir, key: key)
        #expect(after.ok, "\(String(describing: after.broken))")
        #expect(segments(dir).count == 4)
        #expect(after.tornTails.count == 1)
    }

    @Test func durableAppendsAreFsyncedBeforeTheyReturnAndIntentsWithoutOutcomeAreListed() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try AuditWriter(options: .init(directory: dir, key: key, fsyncIntervalMs: 1000))
        let before = writer.counters.fsyncs
        try await writer.appendDurable(record(1, phase: "intent"))
        #expect(writer.counters.fsyncs > before)
        try await writer.appendDurable(record(2, phase: "intent"))
        try await writer.append(record(2, phase: "outcome"))
        await writer.close()
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.openIntents.map(\.gatewayRequestId) == ["req-1"])
    }

    /// The writer thread fsyncs without holding the segment: a slow fsync does not hold up a
    /// caller that writes its own record (a transport lane), and a failed one fails the intent it
    /// was for (fail-closed) and abandons the segment.
    @Test func aSlowFsyncHoldsUpNoOtherWriterAndAFailedOneFailsItsIntent() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = FailingFileSystem()
        let writer = try AuditWriter(
            options: .init(directory: dir, key: key, fsyncIntervalMs: 1000), files: files)
        let gate = DispatchSemaphore(value: 0)
        files.syncGate.withLock { $0 = gate }
        let intent = Task { try await writer.appendDurable(self.record(1, phase: "intent")) }
        for _ in 0..<500 where files.syncsWaiting.load(ordering: .relaxed) == 0 {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(files.syncsWaiting.load(ordering: .relaxed) == 1, "the intent's fsync is under way")
        let written = Atomic<Bool>(false)
        writer.append(record(2)) { outcome in
            if case .success = outcome { written.store(true, ordering: .releasing) }
        }
        let writtenNow = written.load(ordering: .acquiring)
        #expect(writtenNow, "written by the caller while the fsync runs")
        files.syncsFail.store(true, ordering: .releasing)
        files.syncGate.withLock { $0 = nil }
        gate.signal()
        await #expect(throws: AuditUnavailable.self) { try await intent.value }
        #expect(writer.counters.failures >= 1)
        let healthyAfterFailure = writer.isHealthy
        #expect(!healthyAfterFailure)
        files.syncsFail.store(false, ordering: .releasing)
        for _ in 0..<200 where !writer.isHealthy { try await Task.sleep(for: .milliseconds(10)) }
        #expect(writer.isHealthy, "recovers on a fresh segment")
        await writer.close()
        #expect(AuditVerifier.verify(directory: dir, key: key).ok)
    }

    @Test func aFailingDiskFailsClosedAndRecovers() async throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = FailingFileSystem()
        let writer = try AuditWriter(options: .init(directory: dir, key: key), files: disk)
        try await writer.append(record(1))
        disk.fail(true)
        await #expect(throws: AuditUnavailable.self) { try await writer.append(self.record(2)) }
        #expect(!writer.isHealthy)
        disk.fail(false)
        try await writer.append(record(3))
        #expect(writer.isHealthy)
        await writer.close()
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.ok, "\(String(describing: result.broken))")
        #expect(writer.counters.failures == 1)
    }

    /// A disk that fills in the middle of a batch keeps what fits (whole records and part of the
    /// next). The batch failed (its requests were refused), so the segment is cut back to its last
    /// acknowledged record: the next segment continues from there and the chain verifies, with no
    /// record of a refused request left on disk.
    @Test func aDiskFillingMidBatchLeavesAChainThatVerifies() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = FailingFileSystem()
        let core = WriterCore(options: .init(directory: dir, key: key), files: disk, lastSeq: 0, lastMac: "")
        try core.openSegment(now: Date())
        _ = try core.append([record(1)], now: Date())
        let first = try #require(segments(dir).first)
        let size = try #require(AuditSegments.size(dir + "/" + first))
        // Room for one more record and a half: the batch of three is cut inside its second record.
        disk.fill(after: Int(Double(lines(dir, first).last!.utf8.count) * 1.5))
        #expect(throws: AuditIOError.self) { _ = try core.append([record(2), record(3), record(4)], now: Date()) }
        core.abandonSegment()
        #expect(AuditSegments.size(dir + "/" + first) == size)
        disk.fill(after: nil)
        _ = try core.append([record(5)], now: Date())
        core.closeSegment()
        let result = AuditVerifier.verify(directory: dir, key: key)
        #expect(result.ok, "\(String(describing: result.broken))")
        #expect(result.tornTails.isEmpty)
        let ids = AuditQuery().run(directory: dir).compactMap { $0.object["gatewayRequestId"] as? String }
        #expect(ids == ["req-1", "req-5"])
    }

    @Test func queryAndReport() async throws {
        let dir = try await smallLog()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var query = AuditQuery()
        query.key = "k3"
        let matches = query.run(directory: dir)
        #expect(!matches.isEmpty && matches.allSatisfy { $0.object["keyName"] as? String == "k3" })
        query = AuditQuery()
        query.requestId = "req-105"
        #expect(query.run(directory: dir).count == 1)
        query = AuditQuery()
        query.status = "2xx"
        #expect(query.run(directory: dir).count == 60)
        query.status = "4xx"
        #expect(query.run(directory: dir).isEmpty)
        let report = AuditReport(records: AuditQuery().run(directory: dir).map(\.object))
        #expect(report.rows.reduce(0) { $0 + $1.count } == 60)
        let html = report.html(title: "t")
        #expect(html.hasPrefix("<!doctype html>") && html.contains("<svg") && !html.contains("http://") == false)
        #expect(!html.contains("<script") && !html.contains("src="))
    }
}
