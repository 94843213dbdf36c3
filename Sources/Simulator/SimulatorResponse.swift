/// The simulator's answer: status, headers and body bytes, ready for any HTTP server to send.
public struct SimulatorResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    static func json(_ status: Int, _ value: JSONValue) -> SimulatorResponse {
        SimulatorResponse(
            status: status, headers: [(name: "Content-Type", value: "application/json")], body: value.utf8Bytes)
    }

    static let noContent = SimulatorResponse(status: 204)
}
