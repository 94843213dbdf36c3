import Testing

@testable import Gateway

/// The metrics' series table: whatever the order of use, a key finds the value stored for it and
/// no other, in and out of the few it keeps in front; unknown keys find nothing.
@Suite struct SeriesTableTests {
    typealias Key = GatewayMetrics.SeriesKey

    @Test func everyKeyFindsItsOwnValueWhateverTheOrderOfUse() {
        var table = GatewayMetrics.SeriesTable<Int>()
        let keys = (0..<40).map { Key("requests", "key-\($0 % 5)", "policy", "op-\($0 / 5)", "allow", "200") }
        #expect(Set(keys).count == 40)
        for (i, key) in keys.enumerated() {
            #expect(table.find(key) == nil)
            table.insert(key, i)
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let i = Int.random(in: 0..<40, using: &generator)
            #expect(table.find(keys[i]) == i)
        }
        // Keys that differ only in a later label value, or only in the metric, are other series.
        #expect(table.find(Key("requests", "key-0", "policy", "op-0", "allow", "201")) == nil)
        #expect(table.find(Key("request", "key-0", "policy", "op-0", "allow", "200")) == nil)
        #expect(table.find(Key("requests", "key-0", "policy", "op-0", "allow")) == nil)
        // A value stored again for a key replaces the old one, also among those kept in front.
        for i in [3, 39] {
            #expect(table.find(keys[i]) == i)  // now among those in front
            table.insert(keys[i], 100 + i)
            #expect(table.find(keys[i]) == 100 + i)
        }
    }
}
