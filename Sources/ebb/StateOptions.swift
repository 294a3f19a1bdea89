import ArgumentParser
import EbbChecks
import EbbCore
import EbbFaults
import Foundation
import Logging

/// Where the journal lives; shared by every command that reads or writes it.
struct StateOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "State directory holding the rollback journal (default: $EBB_STATE_DIR, else ./.ebb).", valueName: "dir"))
    var stateDir: String?

    var directory: URL {
        let path = stateDir ?? ProcessInfo.processInfo.environment["EBB_STATE_DIR"] ?? ".ebb"
        return URL(fileURLWithPath: path).standardizedFileURL
    }
}

extension ExitCode {
    init(_ status: ExitStatus) { self.init(status.rawValue) }
}
