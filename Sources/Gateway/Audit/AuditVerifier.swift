import Foundation

/// The result of `audit verify`: the first break in the chain (if any), torn tails, and writes
/// whose intent has no outcome ("may have reached Astro").
public struct AuditVerification: Sendable {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public let segment: String
        public let line: Int
        public let seq: Int?
        public let reason: String
        public var description: String {
            "\(segment):\(line)" + (seq.map { " (seq \($0))" } ?? "") + ": \(reason)"
        }
    }

    public struct OpenIntent: Sendable, Equatable {
        public let segment: String
        public let line: Int
        public let gatewayRequestId: String
        public let method: String
        public let target: String
    }

    public var segments = 0
    public var records = 0
    /// The first record that breaks the chain; everything after it is unverified.
    public var broken: Problem?
    /// A last line written only in part (a crash mid-write): reported, not treated as tampering.
    public var tornTails: [Problem] = []
    public var openIntents: [OpenIntent] = []
    /// The first record's seq (1 when the log is whole from its start).
    public var firstSeq: Int?
    /// The segment the first header names as its predecessor when that segment is not in the
    /// directory (removed by retention, or moved away): the chain is verified from `firstSeq` on,
    /// and nothing can be said of what came before. Nil when the log starts with its first segment.
    public var startsAfter: String?

    public var ok: Bool { broken == nil }
}

/// Walks every segment in order and checks each link: `prev` equals the previous mac, `seq`
/// increases by one, the mac recomputes with the key, and each segment's header names its
/// predecessor. A missing middle segment, an edited, deleted, inserted or swapped line, and a
/// forged mac all break a link at a precise place.
public enum AuditVerifier {
    public static func verify(directory: String, key: [UInt8]?) -> AuditVerification {
        var result = AuditVerification()
        let chain = AuditChain(key: key)
        let names = AuditSegments.list(directory)
        var expectedPrev: String?
        var expectedSeq: Int?
        var previousName: String?
        var intents: [String: AuditVerification.OpenIntent] = [:]
        var intentOrder: [String] = []
        segments: for name in names {
            result.segments += 1
            guard let (lines, torn) = AuditSegments.lines(of: directory + "/" + name) else {
                result.broken = .init(segment: name, line: 0, seq: nil, reason: "cannot read the segment")
                break
            }
            for (index, line) in lines.enumerated() {
                let lineNumber = index + 1
                let isLast = index == lines.count - 1
                func fail(_ reason: String, seq: Int? = nil) {
                    result.broken = .init(segment: name, line: lineNumber, seq: seq, reason: reason)
                }
                guard let parts = AuditChain.split(line: line), let object = AuditSegments.parse(line),
                    let seq = object["seq"] as? Int, let prev = object["prev"] as? String
                else {
                    if isLast && torn {
                        result.tornTails.append(
                            .init(
                                segment: name, line: lineNumber, seq: nil,
                                reason: "torn last line (a write cut short by a crash), not tampering"))
                        continue
                    }
                    fail("not a complete audit record")
                    break segments
                }
                let phase = object["phase"] as? String ?? ""
                if index == 0 {
                    guard phase == "header" else {
                        fail("the segment does not start with its header record", seq: seq)
                        break segments
                    }
                    let note = object["note"] as? String ?? ""
                    if previousName == nil {
                        // "segment <name>; previous <name or none>[; retention removed …]"
                        let previous = note.split(separator: ";").lazy
                            .map { $0.trimmingCharacters(in: .whitespaces) }
                            .first { $0.hasPrefix("previous ") }?.dropFirst("previous ".count)
                        if let previous, previous != "none" { result.startsAfter = String(previous) }
                    }
                    if let previousName, !note.contains("previous \(previousName)") {
                        fail(
                            "the header names a different previous segment: a segment is missing before this one",
                            seq: seq)
                        break segments
                    }
                }
                if let expectedSeq, seq != expectedSeq {
                    fail(
                        "seq \(seq) where \(expectedSeq) was expected: a record was deleted, inserted or moved",
                        seq: seq)
                    break segments
                }
                if let expectedPrev, prev != expectedPrev {
                    fail("prev does not match the previous record's mac: the chain is broken here", seq: seq)
                    break segments
                }
                if key != nil {
                    guard let mac = parts.mac, mac == chain.mac(prev: prev, canonical: parts.canonical) else {
                        fail("mac does not verify: the record was edited or forged", seq: seq)
                        break segments
                    }
                }
                if result.firstSeq == nil { result.firstSeq = seq }
                expectedPrev = parts.mac ?? ""
                expectedSeq = seq + 1
                result.records += 1
                if let id = object["gatewayRequestId"] as? String {
                    if phase == "intent" {
                        intents[id] = .init(
                            segment: name, line: lineNumber, gatewayRequestId: id,
                            method: object["method"] as? String ?? "", target: object["target"] as? String ?? "")
                        intentOrder.append(id)
                    } else if phase == "outcome" {
                        intents[id] = nil
                    }
                }
            }
            previousName = name
        }
        result.openIntents = intentOrder.compactMap { intents.removeValue(forKey: $0) }
        return result
    }
}
