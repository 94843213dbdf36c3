import Foundation

/// The process's limit on open descriptors (`RLIMIT_NOFILE`), raised at start.
///
/// Every client connection, upstream connection and audit segment is a descriptor, and the soft
/// limit is often 1024 while `listen.connectionLimit` defaults to 10,000. Running out is worse
/// than refusing clients: libdispatch's thread monitor opens `/proc` files and crashes the
/// process when it cannot. So `serve` raises the soft limit to the hard one (as nginx's
/// `worker_rlimit_nofile` and Go's runtime do) and says so when even that is below what the
/// configuration may need.
public enum DescriptorLimit {
    /// The soft and hard limits now.
    public static func current() -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard limit (at most `ceiling`). Returns the soft limit before
    /// and after; they are equal when there was nothing to raise or the kernel refused.
    @discardableResult
    public static func raise(ceiling: UInt64 = 1 << 20) -> (before: UInt64, after: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        let before = UInt64(limit.rlim_cur)
        let target = min(UInt64(limit.rlim_max), ceiling)
        guard target > before else { return (before, before) }
        limit.rlim_cur = rlim_t(target)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (before, before) }
        return (before, target)
    }

    /// Descriptors kept from clients (`ServerOptions.descriptorReserve`): upstream connections
    /// and a margin for the audit log, config files, the admin listener and the runtime's own.
    public static func reserve(upstreamConnections: Int) -> Int { max(0, upstreamConnections) + 128 }

    /// Descriptors the configuration may hold at once: client connections, the reserve, and as
    /// much again as its margin (the warning at start comes before the reserve is in use).
    public static func needed(connectionLimit: Int, upstreamConnections: Int) -> UInt64 {
        UInt64(max(0, connectionLimit) + reserve(upstreamConnections: upstreamConnections) + 128)
    }
}
