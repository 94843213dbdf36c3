/// Faults a test asks for with the `X-Simulator-Fault` request header.
///
/// The header holds comma-separated directives; unknown ones are ignored:
/// - `delay=<seconds>`: answer normally, but only after this extra delay (added to the configured latency).
/// - `status=<code>`: after authentication and rate limiting, answer with this status and an
///   Astro-shaped error body instead of processing the request (no state changes). Codes outside
///   400...599 are ignored.
/// - `hang`: do not answer until `SimulatorConfig.hangSeconds` pass or the calling task is
///   cancelled (then the answer is a 503), to exercise client deadlines.
///
/// Example: `X-Simulator-Fault: delay=0.25, status=503`. Disabled by `SimulatorConfig.honoursFaultHeader`.
public struct FaultDirective: Sendable, Equatable {
    public var delaySeconds: Double = 0
    public var status: Int?
    public var hang = false

    public static let headerName = "X-Simulator-Fault"
    /// Delays are capped (an hour) so a hostile header cannot overflow a `Duration`.
    public static let maximumDelaySeconds = 3600.0

    public init(delaySeconds: Double = 0, status: Int? = nil, hang: Bool = false) {
        self.delaySeconds = delaySeconds
        self.status = status
        self.hang = hang
    }

    public init(header: String?) {
        guard let header else { return }
        for directive in header.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: " \t")
            }
            switch (parts.first?.lowercased(), parts.count > 1 ? parts[1] : nil) {
            case ("delay", let value?):
                if let seconds = Double(value), seconds.isFinite, seconds > 0 {
                    delaySeconds = min(seconds, Self.maximumDelaySeconds)
                }
            case ("status", let value?):
                if let code = Int(value), (400...599).contains(code) { status = code }
            case ("hang", nil):
                hang = true
            default:
                continue
            }
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice.removeFirst() }
        while let last = slice.last, characters.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
