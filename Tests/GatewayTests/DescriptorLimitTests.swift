import Foundation
import Gateway
import Testing

/// `serve` raises the open-file soft limit to the hard one (capped), and knows how many
/// descriptors a configuration may need.
@Suite(.serialized, .offThePool) struct DescriptorLimitTests {
    @Test func theSoftLimitIsRaisedToTheHardOneWithinTheCeiling() {
        let start = DescriptorLimit.current()
        // Lower the soft limit a little (never below what is open: only new descriptors count),
        // raise it again, and find it back at the hard limit or the ceiling.
        var lowered = rlimit(rlim_cur: rlim_t(max(start.soft / 2, 512)), rlim_max: rlim_t(start.hard))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered)
        let ceiling = min(start.hard, max(start.soft, 1024))
        let raised = DescriptorLimit.raise(ceiling: ceiling)
        #expect(raised.before == UInt64(lowered.rlim_cur))
        #expect(raised.after == max(ceiling, raised.before))
        #expect(DescriptorLimit.current().soft == raised.after)
        // Nothing to raise: the same before and after.
        let again = DescriptorLimit.raise(ceiling: ceiling)
        #expect(again.before == again.after)
        // Leave the process as it was.
        var restore = rlimit(rlim_cur: rlim_t(start.soft), rlim_max: rlim_t(start.hard))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore)
        #expect(DescriptorLimit.current().soft == start.soft)
    }

    @Test func theNeedCountsClientsUpstreamsAndAMargin() {
        #expect(DescriptorLimit.needed(connectionLimit: 10000, upstreamConnections: 8) == 10264)
        #expect(DescriptorLimit.needed(connectionLimit: 16, upstreamConnections: 0) == 272)
    }
}
