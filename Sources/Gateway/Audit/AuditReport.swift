import Foundation

/// Per key and operation: counts, error rate, denials, p50/p95 latency and queue wait, coalesced
/// share, upstream 429s. Text for the terminal, or one self-contained HTML file (inline SVG).
public struct AuditReport: Sendable {
    public struct Row: Sendable {
        public var key: String
        public var operation: String
        public var count = 0
        public var errors = 0
        public var denials = 0
        public var coalesced = 0
        public var upstream429s = 0
        public var totalMs: [Double] = []
        public var queueMs: [Double] = []

        public var errorRate: Double { count == 0 ? 0 : Double(errors) / Double(count) }
        public var coalescedShare: Double { count == 0 ? 0 : Double(coalesced) / Double(count) }
        public func p(_ q: Double, _ values: [Double]) -> Double {
            guard !values.isEmpty else { return 0 }
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded()))]
        }
    }

    public var rows: [Row] = []

    public init(records: [[String: Any]]) {
        var byKey: [String: Row] = [:]
        for r in records {
            let phase = r["phase"] as? String
            if phase == "intent" || phase == "header" { continue }
            let key = (r["keyName"] as? String) ?? "(unauthenticated)"
            let op = (r["operationId"] as? String) ?? "(none)"
            var row = byKey["\(key)\u{0}\(op)"] ?? Row(key: key, operation: op)
            row.count += 1
            let status = r["status"] as? Int ?? 0
            if status >= 400 { row.errors += 1 }
            if (r["decision"] as? String) == "deny" { row.denials += 1 }
            if (r["coalesced"] as? String) == "follower" { row.coalesced += 1 }
            row.upstream429s += r["upstream429s"] as? Int ?? 0
            if let t = r["totalMs"] as? Double { row.totalMs.append(t) }
            if let q = r["queueMs"] as? Double { row.queueMs.append(q) }
            byKey["\(key)\u{0}\(op)"] = row
        }
        rows = byKey.values.sorted { ($0.key, $0.operation) < ($1.key, $1.operation) }
    }

    public func text() -> String {
        var out = "key\toperation\tcount\terror%\tdenials\tp50ms\tp95ms\tqueue p95ms\tcoalesced%\tupstream429s\n"
        for r in rows {
            out +=
                [
                    r.key, r.operation, String(r.count), String(format: "%.1f", r.errorRate * 100), String(r.denials),
                    String(format: "%.1f", r.p(0.5, r.totalMs)), String(format: "%.1f", r.p(0.95, r.totalMs)),
                    String(format: "%.1f", r.p(0.95, r.queueMs)), String(format: "%.1f", r.coalescedShare * 100),
                    String(r.upstream429s),
                ].joined(separator: "\t") + "\n"
        }
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// One horizontal bar chart as inline SVG.
    static func barChart(title: String, bars: [(String, Double)], unit: String) -> String {
        let width = 720.0
        let barHeight = 18.0
        let labelWidth = 300.0
        let maxValue = max(bars.map(\.1).max() ?? 1, 1e-9)
        var svg =
            "<figure><figcaption>\(escape(title))</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(Double(bars.count) * (barHeight + 6) + 10))\" role=\"img\">"
        for (i, bar) in bars.enumerated() {
            let y = Double(i) * (barHeight + 6) + 5
            let w = (width - labelWidth - 80) * bar.1 / maxValue
            svg += "<text x=\"0\" y=\"\(y + 13)\" font-size=\"12\">\(escape(bar.0))</text>"
            svg +=
                "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(String(format: "%.1f", w))\" height=\"\(barHeight)\" fill=\"#4a7bd0\"/>"
            svg +=
                "<text x=\"\(String(format: "%.1f", labelWidth + w + 4))\" y=\"\(y + 13)\" font-size=\"12\">\(String(format: "%.1f", bar.1))\(unit)</text>"
        }
        return svg + "</svg></figure>"
    }

    public func html(title: String) -> String {
        var body = "<h1>\(Self.escape(title))</h1><table><tr>"
        for h in [
            "key", "operation", "count", "error %", "denials", "p50 ms", "p95 ms", "queue p95 ms", "coalesced %",
            "upstream 429s",
        ] {
            body += "<th>\(h)</th>"
        }
        body += "</tr>"
        for r in rows {
            let cells = [
                r.key, r.operation, String(r.count), String(format: "%.1f", r.errorRate * 100), String(r.denials),
                String(format: "%.1f", r.p(0.5, r.totalMs)), String(format: "%.1f", r.p(0.95, r.totalMs)),
                String(format: "%.1f", r.p(0.95, r.queueMs)), String(format: "%.1f", r.coalescedShare * 100),
                String(r.upstream429s),
            ]
            body += "<tr>" + cells.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>"
        }
        body += "</table>"
        let label = { (r: Row) in "\(r.key) · \(r.operation)" }
        body += Self.barChart(title: "Requests", bars: rows.map { (label($0), Double($0.count)) }, unit: "")
        body += Self.barChart(title: "p95 latency", bars: rows.map { (label($0), $0.p(0.95, $0.totalMs)) }, unit: " ms")
        body += Self.barChart(title: "Error rate", bars: rows.map { (label($0), $0.errorRate * 100) }, unit: " %")
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>\(Self.escape(title))</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;\
            padding:4px 8px;text-align:right}td:first-child,td:nth-child(2){text-align:left}figure{margin:2em 0}</style>
            </head><body>\(body)</body></html>
            """
    }
}
