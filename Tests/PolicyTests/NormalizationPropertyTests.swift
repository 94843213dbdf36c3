import Testing

@testable import Policy

/// Random targets (seeded, replayable): normalization never traps, never rewrites, and never lets
/// two different raw targets reach the same forwarded target or the same decision inputs.
@Suite struct NormalizationPropertyTests {
    static let normalizer = TargetNormalizer()

    /// Pieces hostile targets are made of: catalogue literals, ids, separators, encodings, junk.
    static let pieces: [[UInt8]] = {
        var texts = [
            "/", "/v1", "/v1/", "organizations", "org1", "ORG1", "deployments", "dep1", "workspaces", "ws1", "users",
            "self", "roles", "tokens", "deploys", "finalize", ".", "..", "%2f", "%2F", "%5c", "%2e", "%00", "%25", "%",
            "%4", "%41", ";", "?", "&", "=", "#", "\\", " ", "+", "workspaceIds=", "workspaceId=", "WorkspaceIds=",
            "@", ":", "//", "*", "~", "-", "_", "%u002e", "http://", "a",
        ]
        texts += RouteCatalogue.v1.routes.flatMap { route in
            route.segments.compactMap { if case .literal(let text) = $0 { text } else { nil } }
        }
        return texts.map { Array($0.utf8) } + [[0x00], [0x09], [0x0A], [0x7F], [0x80], [0xC0, 0xAF], [0xFF]]
    }()

    static func randomTarget(_ rng: inout SeededGenerator) -> [UInt8] {
        var target: [UInt8] = rng.next() % 4 == 0 ? [] : Array("/v1/".utf8)
        for _ in 0..<Int.random(in: 1...14, using: &rng) {
            target += pieces.randomElement(using: &rng)!
        }
        return target
    }

    /// A catalogue target with one random byte inserted, replaced or deleted.
    static func mutatedTarget(_ rng: inout SeededGenerator) -> [UInt8] {
        let route = RouteCatalogue.v1.routes.randomElement(using: &rng)!
        var target = Array(CatalogueResolutionTests.concrete(route).target.utf8)
        if rng.next() % 2 == 0 { target += Array("?workspaceIds=ws1&limit=2".utf8) }
        let position = Int.random(in: 0...target.count, using: &rng)
        let byte = UInt8.random(in: 0...255, using: &rng)
        switch rng.next() % 3 {
        case 0: target.insert(byte, at: position)
        case 1 where position < target.count: target[position] = byte
        default: if position < target.count { target.remove(at: position) }
        }
        return target
    }

    @Test func normalizationIsInjectiveAndNeverRewrites() {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        var forwardedToRaw: [String: [UInt8]] = [:]
        var decisionInputsToPath: [String: String] = [:]
        var accepted = 0
        for iteration in 0..<20_000 {
            let raw = iteration % 2 == 0 ? Self.randomTarget(&rng) : Self.mutatedTarget(&rng)
            let method = ["GET", "POST", "DELETE"].randomElement(using: &rng)!
            guard let request = try? Self.normalizer.normalize(method: method, rawTarget: raw) else { continue }
            accepted += 1
            // No rewriting: the forwarded target is the raw target minus "/v1".
            #expect(Array(("/v1" + request.upstreamTarget).utf8) == raw)
            // Independent re-check of the documented path rules.
            #expect(!request.path.contains("%") && !request.path.contains("//") && !request.path.hasSuffix("/"))
            #expect(request.segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." })
            #expect(request.path.utf8.allSatisfy(TargetNormalizer.isPathByte))
            // Injective: a forwarded target comes from exactly one raw target.
            let forwarded = request.upstreamTarget
            if let earlier = forwardedToRaw[forwarded] { #expect(earlier == raw) }
            forwardedToRaw[forwarded] = raw
            // The decision inputs (operation + path parameters) pin the forwarded path.
            let inputs =
                request.operationId + "|"
                + request.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: "&")
            if let earlier = decisionInputsToPath[inputs] { #expect(earlier == request.path) }
            decisionInputsToPath[inputs] = request.path
        }
        // The generator must actually reach accepted targets, or the properties prove nothing.
        #expect(accepted > 1_000)
    }

    @Test func fuzzBodyNeverTrapsOnRandomInput() {
        var rng = SeededGenerator(seed: 0x5EED_0002)
        for iteration in 0..<5_000 {
            var data: [UInt8] = [UInt8.random(in: 0...255, using: &rng)]
            data += iteration % 2 == 0 ? Self.randomTarget(&rng) : Self.mutatedTarget(&rng)
            data.append(0x0A)
            let bodies: [String] = [
                #"{"workspaceId":"ws1"}"#, #"{"workspaceId":"ws1","WorkspaceID":"ws9"}"#, "{", "[]", "",
                #"{"workspaceIds":["ws1","ws2"],"a":{"b":[1,2.5e3,true,null]}}"#,
            ]
            data += Array(bodies.randomElement(using: &rng)!.utf8)
            PolicyFuzzing.fuzzOne(data)
        }
        var noise = SeededGenerator(seed: 0x5EED_0003)
        for _ in 0..<2_000 {
            PolicyFuzzing.fuzzOne(
                (0..<Int.random(in: 0...64, using: &noise)).map { _ in UInt8.random(in: 0...255, using: &noise) })
        }
    }
}
