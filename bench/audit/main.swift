// Audit log throughput and the latency a durable intent adds (issue 5), on this machine's disk.
// Ratios within one run are what count: fsync cost depends on the disk and its other load.
import Foundation
import Gateway

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func record(_ i: Int) -> AuditRecord {
    var r = AuditRecord()
    r.gatewayRequestId = "01a2227e-82c5-7105-ba65-\(String(format: "%012d", i))"
    r.method = "POST"
    r.target = "/v1/organizations/clorg1/workspaces"
    r.keyName = "bench"
    r.status = 200
    r.totalMs = 1.5
    return r
}

func percentile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(q * Double(sorted.count - 1)))]
}

/// Appends `total` records from `concurrency` writers; returns records/s and per-append latencies.
func run(durable: Bool, concurrency: Int, total: Int, directory: String) async throws -> (Double, [Double]) {
    let writer = try AuditWriter(
        options: .init(directory: directory, key: Array("bench-key".utf8), fsyncIntervalMs: 10))
    let perWriter = total / concurrency
    let started = now()
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for w in 0..<concurrency {
            group.addTask {
                var mine: [Double] = []
                for i in 0..<perWriter {
                    let t = now()
                    if durable {
                        try await writer.appendDurable(record(w * perWriter + i))
                    } else {
                        try await writer.append(record(w * perWriter + i))
                    }
                    mine.append(now() - t)
                }
                return mine
            }
        }
        return try await group.reduce(into: []) { $0 += $1 }
    }
    let elapsed = now() - started
    await writer.close()
    return (Double(perWriter * concurrency) / elapsed, latencies)
}

let base = CommandLine.arguments.dropFirst().first ?? (NSTemporaryDirectory() + "agw-audit-bench")
try? FileManager.default.removeItem(atPath: base)
var rows: [String] = []
for (durable, concurrency, total) in [
    (false, 1, 20000), (false, 64, 64000), (true, 1, 500), (true, 16, 8000), (true, 64, 32000),
] {
    let dir = base + "/\(durable ? "durable" : "plain")-\(concurrency)"
    let (rate, latencies) = try await run(durable: durable, concurrency: concurrency, total: total, directory: dir)
    rows.append(
        "| \(durable ? "durable (fsynced)" : "written") | \(concurrency) | \(Int(rate)) | "
            + String(format: "%.3f | %.3f |", percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000))
}
print("| append | concurrent writers | records/s | p50 ms | p99 ms |")
print("| --- | ---: | ---: | ---: | ---: |")
for row in rows { print(row) }
try? FileManager.default.removeItem(atPath: base)
