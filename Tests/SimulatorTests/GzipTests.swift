import Foundation
import Policy
import Testing

@testable import Simulator

@Suite struct GzipTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    /// Runs `/bin/gzip -dc` on the bytes and returns what it printed, or nil if it failed.
    static func gunzip(_ bytes: [UInt8]) throws -> [UInt8]? {
        let directory = FileManager.default.temporaryDirectory
        let file = directory.appendingPathComponent("simulator-\(UUID().uuidString).gz")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc", file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? Array(data) : nil
    }

    @Test(arguments: [0, 1, 65_535, 65_536, 200_000])
    func gzipRoundTripsThroughSystemGzip(size: Int) throws {
        var generator = SeededGenerator(seed: UInt64(size))
        let input = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(try Self.gunzip(Gzip.encode(input)) == input)
    }

    @Test func corruptedChecksumIsRejectedByGzip() throws {
        var encoded = Gzip.encode(Array("hello".utf8))
        encoded[encoded.count - 5] ^= 0xFF
        #expect(try Self.gunzip(encoded) == nil)
    }

    @Test func auditLogsAreGzippedNDJSONOfWrites() async throws {
        let client = TestClient(simulator: TestClient.makeSimulator())
        let created = await client.call("POST", "\(TestClient.org)/workspaces", json: #"{"name":"audited"}"#)
        await client.call("GET", "\(TestClient.org)/workspaces")
        let reply = await client.call("GET", "\(TestClient.org)/audit-logs", query: "startDate=2020-01-01T00:00:00Z")
        #expect(reply.status == 200)
        #expect(reply.response.header("Content-Encoding") == "gzip")
        let plain = try #require(try Self.gunzip(reply.response.body))
        let lines = String(decoding: plain, as: UTF8.self).split(separator: "\n")
        let records = try lines.map { try JSONValue.parse(Array($0.utf8)) }
        #expect(records.count == 2)  // the export header and the one write
        #expect(records.last?["action"] == .string("CreateWorkspace"))
        #expect(records.last?["requestId"]?.stringValue == created.requestId)
    }
}
