// libFuzzer entry for the Policy decision core (normalizer + route lookup + decision).
// Build with --sanitize fuzzer (see README, "Fuzzing"); libFuzzer supplies main there.
// In an ordinary build this executable does nothing.
import Policy

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    PolicyFuzzing.fuzzOne(Array(UnsafeRawBufferPointer(start: start, count: count)))
    return 0
}
