import Foundation
import Testing

/// bench/floor.sh builds the sources with `bench/floor/floor.patch` applied. The patch must keep
/// applying as the pipeline changes, or the benchmark stops working unnoticed until someone runs it.
@Suite struct BenchToolingTests {
    @Test func theFloorPatchAppliesToTheSources() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "apply", "--check", "bench/floor/floor.patch"]
        process.currentDirectoryURL = URL(fileURLWithPath: Paths.root)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(
            process.terminationStatus == 0,
            "bench/floor/floor.patch no longer applies (refresh its hunk in Pipeline.answerImmediately): \(message)")
    }
}
