/// Prometheus text for the cluster's shared state, read at scrape time from its owners (the
/// shared slots and idempotency records count their own events).
enum ClusterMetrics {
    static func render(_ cluster: GatewayCluster?) -> String {
        guard let cluster else { return "" }
        let counts = cluster.slots.counts
        return """
            # HELP agw_cluster_redis_up 1 when the last Redis command succeeded, 0 while the local fallback is in force.
            # TYPE agw_cluster_redis_up gauge
            agw_cluster_redis_up \(cluster.redisUp ? 1 : 0)
            # HELP agw_cluster_fallback_grants_total Rate slots granted from this replica's local share while Redis was unavailable.
            # TYPE agw_cluster_fallback_grants_total counter
            agw_cluster_fallback_grants_total \(counts.fallbackGrants)
            # HELP agw_cluster_redis_failures_total Redis commands that failed (refused, timed out, broken connection).
            # TYPE agw_cluster_redis_failures_total counter
            agw_cluster_redis_failures_total \(counts.redisFailures)
            # HELP agw_cluster_settling_unused_slots_total Redis slots left unused after recovery because the local share had none.
            # TYPE agw_cluster_settling_unused_slots_total counter
            agw_cluster_settling_unused_slots_total \(counts.settlingUnused)
            # HELP agw_cluster_idempotency_store_failures_total Final answers that could not be stored in Redis.
            # TYPE agw_cluster_idempotency_store_failures_total counter
            agw_cluster_idempotency_store_failures_total \(cluster.idempotency.storeFailures)

            """
    }

    /// The `/readyz` detail: fallback keeps the gateway ready (limits still hold), but says so.
    static func readiness(_ cluster: GatewayCluster?) -> String {
        guard let cluster else { return "" }
        let mode = cluster.redisUp ? "shared" : "local fallback (limit / \(cluster.slots.expectedReplicas))"
        return ",\"cluster\":{\"redis\":\"\(cluster.redisUp ? "up" : "down")\",\"rateLimits\":\"\(mode)\"}"
    }
}
