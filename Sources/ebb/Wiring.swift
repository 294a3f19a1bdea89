import ArgumentParser
import EbbChecks
import EbbCore
import EbbFaults
import EbbProxy
import EbbReports
import Foundation
import Logging

/// What the commands share: the plugin catalog, the suite loader, logging, and the few
/// steps several commands take alike.
enum Wiring {
    static let catalog: PluginCatalog = {
        var catalog = PluginCatalog.standard
        catalog.registerProxies()
        return catalog
    }()
    static let remoteFleet = RemoteFleet()
    /// What this process's runs keep alive (proxies, remote hosts' agents): the proxies' reader
    /// and the runner share it.
    static let services = LiveServices()
    static let loader = SuiteLoader(
        catalog: catalog, checkReader: ChecksReader(), proxyReader: ProxiesReader(services: services),
        remoteFaults: remoteFleet)

    static func logger(verbose: Bool) -> Logger {
        var logger = Logger(label: "ebb") { RedactingLogHandler(StreamLogHandler.standardError(label: $0)) }
        logger.logLevel = verbose ? .info : .warning
        return logger
    }

    /// Runs `body` with SIGINT/SIGTERM/SIGHUP noted but not obeyed: an undo cut in half by a CI
    /// cancel would leave the system worse than either state (ARCHITECTURE.md invariant 3).
    static func withoutInterruption<T>(_ body: () throws -> T) rethrows -> T {
        let trap = SignalTrap { number in
            printError("\(SignalTrap.name(of: number)) received: rollback is in progress and will finish first")
        }
        defer { withExtendedLifetime(trap) {} }
        return try body()
    }

    /// Reads the journal; an unreadable one is invalid input (exit 3), reported plainly.
    static func readJournal<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            printError("error: cannot read the journal: \(error)")
            throw ExitCode(.invalidInput)
        }
    }

    /// Writes reports; a report that cannot be written is said on stderr, never hidden, and does
    /// not change the exit code, which describes the system under test.
    static func writeReports(_ body: () throws -> [String]) {
        do {
            let paths = try body()
            if !paths.isEmpty { Output.standardError("reports: \(paths.joined(separator: ", "))\n") }
        } catch {
            printError("error: could not write reports: \(error)")
        }
    }

    /// Executes `runs` with ``Recovery/execute(_:each:)``, the one recovery loop of `rollback
    /// execute` and `run --recover`, printing each outcome and writing its reports. True when all verified.
    static func recover(_ runs: [RunSnapshot], with recovery: Recovery, reports: RunReports) -> Bool {
        recovery.execute(runs) { run, outcome in
            switch outcome {
            case .success(let report):
                Output.standardOutput(JournalListing.recovery(report) + "\n")  // redacted, unlike print
                writeReports { try reports.write(report, reader: recovery.reader, actor: recovery.actor) }
            case .failure(let error):
                printError("error: run \(run.id): \(error)")
            }
        }
    }

    static func printError(_ text: String) {
        Output.standardError(text + "\n")
    }
}
