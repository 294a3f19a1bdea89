import Logging

/// A log handler that hides secrets (see ``SecretRedactor``) from the message and metadata
/// before passing them on.
public struct RedactingLogHandler: LogHandler {
    private var inner: any LogHandler
    private let redactor: SecretRedactor

    public init(_ inner: any LogHandler, redactor: SecretRedactor = .shared) {
        self.inner = inner
        self.redactor = redactor
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(redactor.redact(event.message.description))"
        event.metadata = event.metadata?.mapValues { .string(redactor.redact("\($0)")) }
        if let error = event.error { event.error = Redacted(description: redactor.redact("\(error)")) }
        inner.log(event: event)
    }

    /// An error shown only as its redacted text.
    private struct Redacted: Error, CustomStringConvertible {
        var description: String
    }
}
