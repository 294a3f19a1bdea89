import ArgumentParser
import EbbDemoTarget

struct DemoTargetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-target",
        abstract: "Serve a tiny HTTP service (/healthz, /metrics) on 127.0.0.1 for the demo suite to break."
    )

    @Option(help: "TCP port on 127.0.0.1.") var port: Int
    @Option(help: ArgumentHelp("Write the pid here once listening.", valueName: "path")) var pidfile: String?

    func run() async throws {
        try await DemoTarget.serve(port: port, pidfile: pidfile)
    }
}
