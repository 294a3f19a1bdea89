import Foundation

/// Writes to standard output and error without ever trapping. A closed pipe (`ebb run | head`,
/// a CI log collector that went away) must not end a run that has faults in place, so ebb
/// ignores SIGPIPE and a failed write is dropped; Foundation's `write(_: Data)` would trap.
public enum Output {
    public static func standardOutput(_ text: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data(SecretRedactor.shared.redact(text).utf8))
    }

    public static func standardError(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data(SecretRedactor.shared.redact(text).utf8))
    }
}
