extension String {
    /// The string with each UTF-8 byte mapped, built in place: a name of up to 15 bytes stays an
    /// inline small string (no allocation), where map-then-decode allocated twice per header.
    /// `transform` must keep the result valid UTF-8 (it only ever maps ASCII bytes to ASCII).
    @inlinable public func mappingASCIIBytes(_ transform: (UInt8) -> UInt8) -> String {
        let count = utf8.count
        return String(unsafeUninitializedCapacity: count) { buffer in
            var i = 0
            for byte in utf8 {
                buffer[i] = transform(byte)
                i += 1
            }
            return i
        }
    }
}
