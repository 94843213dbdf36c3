/// A problem in a YAML file (keys or policies), located to the line and column.
public struct ConfigFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: message`, the shape editors and CI logs link to.
    public var description: String { "\(file):\(line):\(column): \(message)" }
}
