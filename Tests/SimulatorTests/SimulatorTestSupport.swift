import Foundation
import Synchronization
import Testing

@testable import Simulator

/// A clock the test moves by hand, for exact rate-limit windows.
final class ManualClock: Sendable {
    private let seconds = Mutex(0.0)

    func advance(by delta: Double) { seconds.withLock { $0 += delta } }

    var now: @Sendable () -> Double { { self.seconds.withLock { $0 } } }
}

/// Drives a simulator like an HTTP client would: one token, JSON in and out.
struct TestClient {
    let simulator: AstroSimulator
    var token: String? = "secret-a"

    static let org = "/organizations/clorg1"

    static func makeSimulator(
        limits enforce: Bool = false, clock: ManualClock? = nil, configure: (inout SimulatorConfig) -> Void = { _ in }
    ) -> AstroSimulator {
        var config = SimulatorConfig(tokens: ["secret-a": "token-a", "secret-b": "token-b"], enforceLimits: enforce)
        if let clock { config.monotonicNow = clock.now }
        configure(&config)
        return AstroSimulator(config: config)
    }

    @discardableResult
    func call(
        _ method: String, _ path: String, query: String? = nil, json: String? = nil,
        headers: [(name: String, value: String)] = []
    ) async -> Reply {
        var allHeaders = headers
        if let token { allHeaders.append((name: "Authorization", value: "Bearer \(token)")) }
        let request = SimulatorRequest(
            method: method, path: path, query: query, headers: allHeaders, body: Array((json ?? "").utf8))
        return Reply(await simulator.handle(request))
    }
}

/// A response plus its parsed JSON body, with the checks every response must pass.
struct Reply {
    let response: SimulatorResponse
    let json: JSONValue?

    init(_ response: SimulatorResponse) {
        self.response = response
        self.json = response.body.isEmpty ? nil : try? JSONValue.parse(response.body)
    }

    var status: Int { response.status }
    var requestId: String? { response.header("X-Request-Id") }
    subscript(key: String) -> JSONValue? { json?[key] }
    var id: String? { json?["id"]?.stringValue }

    func items(_ key: String) -> [JSONValue] { json?[key]?.arrayValue ?? [] }

    /// Every error: JSON body `{statusCode, message, requestId}` whose id equals the header's.
    func expectAstroError(_ status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(self.status == status, sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
        #expect(json?["statusCode"] == .integer(Int64(status)), sourceLocation: sourceLocation)
        #expect(json?["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(requestId != nil, sourceLocation: sourceLocation)
        #expect(json?["requestId"]?.stringValue == requestId, sourceLocation: sourceLocation)
    }
}

/// True when `text` is a cuid-like id: 25 lowercase alphanumerics starting with `c`.
func isCuid(_ text: String?) -> Bool {
    guard let text, text.count == 25, text.first == "c" else { return false }
    return text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
}
