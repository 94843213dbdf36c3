import Foundation

/// Segment naming and reading: `audit-<UTC yyyyMMdd'T'HHmmss>-<first seq, 12 digits>.jsonl`, so
/// names sort in write order.
public enum AuditSegments {
    public static func name(now: Date, nextSeq: Int) -> String {
        let stamp = now.formatted(
            .iso8601.year().month().day().dateSeparator(.omitted).time(includingFractionalSeconds: false)
                .timeSeparator(.omitted).timeZone(separator: .omitted))
        let digits = String(nextSeq)
        return
            "audit-\(stamp.replacingOccurrences(of: "Z", with: ""))-\(String(repeating: "0", count: max(0, 12 - digits.count)) + digits).jsonl"
    }

    /// The size of a file, or nil when it does not exist.
    static func size(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
    }

    public static func isSegmentName(_ name: String) -> Bool {
        name.hasPrefix("audit-") && name.hasSuffix(".jsonl")
    }

    static func day(_ date: Date) -> String {
        String(AuditRecord.timestamp(date).prefix(10))
    }

    /// The UTC day ("2026-11-29") a segment was started on, from its name; nil for another name.
    /// A segment holds that day's records only: segments rotate when the UTC day changes.
    static func startDay(_ name: String) -> String? {
        let digits = Array(name.utf8.dropFirst("audit-".utf8.count).prefix(8))
        guard isSegmentName(name), digits.count == 8, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let text = String(decoding: digits, as: UTF8.self)
        return "\(text.prefix(4))-\(text.dropFirst(4).prefix(2))-\(text.suffix(2))"
    }

    /// Which of `existing` (oldest first, not counting the segment being started at `now`)
    /// retention removes: the oldest beyond `retainSegments` (the new one included), and those
    /// of UTC days more than `retainDays` days before `now`'s. Always a prefix of `existing`.
    static func expired(_ existing: [String], now: Date, retainSegments: Int?, retainDays: Int?) -> [String] {
        var count = 0
        if let keep = retainSegments { count = max(0, existing.count + 1 - keep) }
        if let days = retainDays {
            let cutoff = day(now.addingTimeInterval(-Double(days) * 86400))
            let old = existing.prefix { name in startDay(name).map { $0 < cutoff } ?? false }.count
            count = max(count, old)
        }
        return Array(existing.prefix(count))
    }

    /// The segment files of a directory, oldest first.
    public static func list(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(isSegmentName).sorted()
    }

    /// The lines of a segment; `torn` is true when the last line has no newline.
    public static func lines(of path: String) -> (lines: [String], torn: Bool)? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let torn = !(lines.last?.isEmpty ?? true)
        if !torn { lines.removeLast() }
        return (lines, torn)
    }

    /// The seq and mac of the newest record that was written whole, looking back across segments.
    static func lastIntactRecord(in directory: String, files: any AuditFileSystem) -> (seq: Int, mac: String)? {
        let names = (try? files.list(directory)) ?? []
        for name in names.reversed() {
            guard let (lines, torn) = lines(of: directory + "/" + name) else { continue }
            let whole = torn ? lines.dropLast() : lines[...]
            for line in whole.reversed() {
                if let parsed = AuditChain.split(line: line), let object = parse(line), let seq = object["seq"] as? Int
                {
                    return (seq, parsed.mac ?? "")
                }
            }
        }
        return nil
    }

    static func parse(_ line: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    }
}
