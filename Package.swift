// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Ebb",
    // macOS 15: Synchronization's Mutex.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ebb", targets: ["ebb"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // The user-space packet delayer of network.delay, for kernels without sch_netem.
        .systemLibrary(
            name: "CNetfilterQueue",
            pkgConfig: "libnetfilter_queue",
            providers: [.apt(["libnetfilter-queue-dev"])]
        ),
        // The fault proxy's zero-copy relay: splice(2), epoll and eventfd, which Glibc's module hides.
        .target(name: "CLinuxIO"),
        // What ebb does first, before it has threads: the pre-forked guardian's waiting half
        // (see PreforkedGuardian) and the malloc arena limit.
        .target(name: "CStartup"),
        .target(
            name: "EbbCore",
            dependencies: [
                "CStartup",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                // A fixture's `ready: {http: ...}`: the HTTP client the checks use, not URLSession,
                // whose FoundationNetworking would link libcurl: 29 of the 43 shared libraries every start loaded.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The Kubernetes REST client that both the k8s faults and the k8s probe use.
        .target(
            name: "EbbKubernetes",
            dependencies: [
                "EbbCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "EbbFaults",
            dependencies: [
                "EbbCore", "EbbKubernetes", "CNetfilterQueue", "CLibXML2",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // The EC2 client of the cloud.aws.* faults (EbbKubernetes already links both).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // The fault proxy (proxies:, proxy.toxic, proxy.http) on SwiftNIO, with its zero-copy relay.
        .target(
            name: "EbbProxy",
            dependencies: [
                "EbbCore", "CLinuxIO",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The demo service that Scenarios/demo.yaml breaks; a test fixture, not part of the runner.
        .target(
            name: "EbbDemoTarget",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "EbbChecks",
            dependencies: [
                "EbbCore",
                "EbbKubernetes",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "EbbReports", dependencies: ["EbbCore", "CLibXML2"]),
        // What `ebb bench` and `ebb report synthesize` measure with, for ci/bench; no product module holds bench code.
        .target(
            name: "EbbBench",
            dependencies: [
                "EbbCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ebb",
            dependencies: [
                "EbbCore", "EbbFaults", "EbbProxy", "EbbChecks", "EbbReports", "EbbDemoTarget", "EbbBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The static Swift runtime links executables with --export-dynamic: 36,000 symbols
            // (3 MiB) that nothing looks up, yet the dynamic loader maps them and the runtime's
            // start-up dladdr scans them in every process. An executable needs none exported.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux]))]
        ),
        // What every test target shares (the `.ownThread` trait); never part of a product.
        .target(name: "EbbTestSupport", dependencies: ["EbbCore"], path: "Tests/EbbTestSupport"),
        .testTarget(name: "EbbCoreTests", dependencies: ["EbbCore", "EbbFaults", "EbbTestSupport"]),
        .testTarget(
            name: "EbbFaultsTests",
            dependencies: ["EbbFaults", "EbbCore", "EbbTestSupport"]
        ),
        .testTarget(
            name: "EbbProxyTests",
            dependencies: [
                "EbbProxy", "EbbCore", "EbbDemoTarget", "EbbTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "EbbKubernetesTests", dependencies: ["EbbKubernetes", "EbbCore"]),
        .testTarget(name: "EbbReportsTests", dependencies: ["EbbReports", "EbbCore", "EbbTestSupport"]),
        .testTarget(
            name: "EbbChecksTests", dependencies: ["EbbChecks", "EbbCore", "EbbFaults", "EbbProxy", "EbbTestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["EbbCore", "EbbKubernetes", "EbbTestSupport"]),
    ]
)
