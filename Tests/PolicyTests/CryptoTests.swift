import Testing

@testable import Policy

/// The libcrypto wrappers against published vectors (FIPS 180-2, RFC 4231), on contiguous and
/// non-contiguous input, from several threads at once (the SHA-256 algorithm is fetched once and
/// shared).
@Suite struct CryptoTests {
    @Test func sha256MatchesThePublishedVectors() {
        let vectors = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ]
        for (text, digest) in vectors {
            #expect(Crypto.hex(Crypto.sha256(Array(text.utf8))) == digest, "\(text)")
            #expect(Crypto.hex(Crypto.sha256(text.utf8)) == digest, "\(text)")
            // A lazy view has no contiguous storage: the copying path.
            #expect(Crypto.hex(Crypto.sha256(text.utf8.lazy.map { $0 })) == digest, "\(text)")
        }
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(
            Crypto.hex(Crypto.sha256(million)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func hmacSHA256MatchesRFC4231() {
        let mac = Crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Crypto.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let key = [UInt8](repeating: 0x0b, count: 20)
        #expect(
            Crypto.hex(Crypto.hmacSHA256(key: key, message: Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func digestsAgreeAcrossThreads() async {
        let expected = Crypto.hex(Crypto.sha256(Array("abc".utf8)))
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    (0..<200).allSatisfy { j in
                        Crypto.hex(Crypto.sha256(Array("abc".utf8))) == expected
                            && Crypto.sha256(Array("\(i)-\(j)".utf8)).count == 32
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 16 && results.allSatisfy { $0 })
    }

    @Test func identifierBitsNeverRepeatAcrossRefills() {
        // 4 KiB pools hold 256 draws: 3,000 draws cross many refills.
        var seen = Set<[UInt64]>()
        for _ in 0..<3000 {
            let (a, b) = Crypto.randomIdentifierBits()
            #expect(seen.insert([a, b]).inserted)
        }
    }
}
