import ArgumentParser
import EbbDemoTarget

struct DemoTargetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-target",
        abstract: "Serve a tiny HTTP service (/healthz, /metrics, /bytes?n=N) for the demo suite to break.",
        discussion:
            "It listens on 127.0.0.1 unless --host names another local address (e.g. one inside a test's network namespace)."
    )

    @Option(help: "Local address to listen on.") var host = "127.0.0.1"
    @Option(help: "TCP port.") var port: Int
    @Option(help: ArgumentHelp("Write the pid here once listening.", valueName: "path")) var pidfile: String?

    func run() async throws {
        try await DemoTarget.serve(host: host, port: port, pidfile: pidfile)
    }
}
