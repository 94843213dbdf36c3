/// A command that failed for a reason the user can act on (bad config, port in use). Printed as
/// `Error: <message>` without the usage text, which would only bury the reason.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
