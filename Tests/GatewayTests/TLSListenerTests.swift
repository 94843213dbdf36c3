import Foundation
import Gateway
import Testing

/// Inbound TLS (libmicrohttpd's, GnuTLS in Debian's build) with a private CA made at test time.
@Suite(.serialized, .offThePool) struct TLSListenerTests {
    func run(_ tool: String, _ arguments: [String], in dir: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func httpsListenerServesWithAPrivateCA() async throws {
        let dir = NSTemporaryDirectory() + "agw-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
                "-subj", "/CN=agw test CA",
            ],
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
                "/CN=localhost",
            ],
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                "server.pem", "-days", "1", "-extfile", "san.cnf",
            ],
        ]
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(
            toFile: dir + "/san.cnf", atomically: true, encoding: .utf8)
        for step in steps {
            let result = try run("openssl", step, in: dir)
            #expect(result.status == 0, "openssl \(step.joined(separator: " ")): \(result.output)")
        }
        let gateway = try TestGateway.start(
            upstream: nil, listenYAML: ", tls: { certificateFile: \(dir)/server.pem, keyFile: \(dir)/server.key }")
        defer { gateway.stop() }
        let url = "https://127.0.0.1:\(gateway.port)/v1/organizations"
        let ok = try run(
            "curl",
            [
                "-sS", "--cacert", dir + "/ca.pem", "-H", "Authorization: Bearer \(gateway.key)", "-o", "/dev/null",
                "-w", "%{http_code}", url,
            ], in: dir)
        #expect(ok.output == "200", "\(ok.output)")
        // Without the private CA the client refuses the certificate.
        let untrusted = try run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", url], in: dir)
        #expect(untrusted.status != 0)
        // Plain HTTP to the TLS port gets no HTTP answer.
        let plain = try? rawRequest(port: gateway.port, target: "/v1/organizations", headers: [gateway.auth])
        #expect(plain?.status != 200)
    }
}
