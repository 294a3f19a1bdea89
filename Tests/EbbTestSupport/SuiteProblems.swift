import EbbCore
import Testing

extension SuiteLoader {
    /// The errors loading `yaml` reports (none: it loaded); any other error is a test failure.
    public func errors(loading yaml: String, path: String = "suite.yaml") -> [SuiteError] {
        do {
            _ = try load(text: yaml, path: path)
            return []
        } catch let error as SuiteErrors {
            return error.errors
        } catch {
            Issue.record("unexpected error type: \(error)")
            return []
        }
    }
}
