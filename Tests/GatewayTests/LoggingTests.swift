import Foundation
import Logging
import Synchronization
import Testing

@testable import Gateway

@Suite struct LoggingTests {
    final class Buffer: Sendable {
        let lines = Mutex<[String]>([])
        var sink: LogSink {
            LogSink { bytes in self.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        }
    }

    @Test func oneJSONObjectPerLineWithMetadataAndNoSecrets() throws {
        let buffer = Buffer()
        var logger = Logger(label: "t") { JSONLogHandler(label: $0, level: .debug, sink: buffer.sink) }
        logger[metadataKey: "component"] = "pipeline"
        let key = "agw_abcdefghijkl_SECRETSECRETSECRETSECRETSECRETSECRETSECRETSECRET1"
        logger.notice(
            "denied \(key) with Bearer org-token-xyz\nsecond line",
            metadata: [
                "gatewayRequestId": "r1", "status": "403", "token": "org-token-xyz", "keyName": "ci",
                "tokenId": "org-main",
            ])
        let lines = buffer.lines.withLock { $0 }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.hasSuffix("}\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "notice")
        #expect(object["gatewayRequestId"] as? String == "r1")
        #expect(object["status"] as? String == "403")
        #expect(object["component"] as? String == "pipeline")
        #expect(object["token"] as? String == "[redacted]")
        #expect(object["tokenId"] as? String == "org-main")
        #expect(object["keyName"] as? String == "ci")
        #expect(!line.contains("SECRETSECRET") && !line.contains("org-token-xyz"))
        #expect((object["message"] as? String ?? "").contains("agw_abcdefghijkl_[redacted]"))
    }

    @Test func levelsFilter() {
        let buffer = Buffer()
        let logger = Logger(label: "t") { JSONLogHandler(label: $0, level: .notice, sink: buffer.sink) }
        logger.debug("hidden")
        logger.info("hidden")
        logger.warning("shown")
        #expect(buffer.lines.withLock { $0.count } == 1)
    }
}
