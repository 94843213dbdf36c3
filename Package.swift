// swift-tools-version:6.0
// astro-gateway: a self-hosted REST gateway in front of the Astro API v1.
// Module layout and the reason for each dependency: docs/architecture.md.
import PackageDescription

let package = Package(
    name: "astro-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "astro-gateway", targets: ["astro-gateway"])
    ],
    dependencies: [
        // CLI subcommands and --help.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML config, keys and policies, with line marks for error messages.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // Structured logs.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // Prometheus text exposition for /metrics (brings swift-metrics' CoreMetrics).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C edges: module maps plus tiny inline shims for variadic calls.
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        // Redis for shared rate slots and idempotency records across replicas (cluster.redis only).
        .systemLibrary(
            // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a
            // warning on every build; the shim includes <hiredis/hiredis.h> from /usr/include.
            name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        // Socket helpers (POSIX only, nothing to link) for the server's own listening socket and
        // the plain-HTTP client's connections.
        .systemLibrary(name: "CSocket"),

        // Pure decision logic: route catalogue, target normalization, keys, policies.
        .target(
            name: "Policy",
            dependencies: [
                "COpenSSL",
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Resources/v1-routes.tsv")]
        ),
        // Everything that talks to Astro: transport, pools, scheduling, coalescing.
        .target(
            name: "Upstream",
            dependencies: ["CCurl", "CHiredis", "CSocket", "Policy"]
        ),
        // A stateful, catalogue-driven stand-in for Astro v1 (transport-agnostic handler).
        .target(
            name: "Simulator",
            dependencies: ["Policy"]
        ),
        // The process: CLI, config, server adapter, pipeline, audit, admin.
        .target(
            name: "Gateway",
            dependencies: [
                "CMicroHTTPD", "COpenSSL", "CSocket", "Policy", "Upstream", "Simulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(name: "astro-gateway", dependencies: ["Gateway"]),
        // libFuzzer harness for the normalizer + matcher + decision (README, "Fuzzing").
        .executableTarget(name: "PolicyFuzz", dependencies: ["Policy"], path: "Fuzz/PolicyFuzz"),
        // Decisions per second against key and rule counts (bench/run).
        .executableTarget(name: "PolicyBench", dependencies: ["Policy"], path: "bench/policy"),
        // Audit log records/s with group commit and the latency a durable intent adds (bench/run).
        .executableTarget(name: "AuditBench", dependencies: ["Gateway"], path: "bench/audit"),
        // Cost per rate-slot grant, Redis (cluster) vs local (bench/run).
        .executableTarget(name: "SlotBench", dependencies: ["Upstream"], path: "bench/slots"),

        .testTarget(name: "PolicyTests", dependencies: ["Policy"]),
        .testTarget(name: "UpstreamTests", dependencies: ["Upstream", "Policy"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Policy"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "Policy", "Upstream", "Simulator"]),
    ]
)
