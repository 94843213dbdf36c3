import Foundation

/// Durations on the command line: `90d`, `24h`, `30m`, `45s` (one unit, whole numbers).
enum DurationArgument {
    static func seconds(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let value = Double(text.dropLast()), value >= 0 else { return nil }
        switch unit {
        case "d": return value * 86400
        case "h": return value * 3600
        case "m": return value * 60
        case "s": return value
        default: return nil
        }
    }
}
