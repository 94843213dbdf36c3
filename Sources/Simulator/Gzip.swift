/// Minimal gzip (RFC 1952) writer using stored deflate blocks (RFC 1951, BTYPE 00).
///
/// The audit-log route must answer with `Content-Encoding: gzip`; compression ratio does not
/// matter for a simulator, so the data is stored uncompressed and no zlib is needed.
enum Gzip {
    static func encode(_ data: [UInt8]) -> [UInt8] {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown).
        var out: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF]
        out.reserveCapacity(data.count + data.count / 65_535 * 5 + 23)
        var start = 0
        repeat {
            let end = min(start + 65_535, data.count)
            let length = UInt16(end - start)
            // Stored blocks start byte-aligned: BFINAL in bit 0, BTYPE 00, then padding to the byte.
            out.append(end == data.count ? 0x01 : 0x00)
            appendLittleEndian(UInt32(length) | UInt32(~length) << 16, to: &out)
            out.append(contentsOf: data[start..<end])
            start = end
        } while start < data.count
        appendLittleEndian(CRC32.checksum(data), to: &out)
        appendLittleEndian(UInt32(truncatingIfNeeded: data.count), to: &out)
        return out
    }

    private static func appendLittleEndian(_ value: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as gzip uses it.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    static func checksum(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
