/// A limit on a whole exchange. AsyncHTTPClient's own timeout covers only the wait for the
/// response head, so a target that sends headers and then stalls its body would otherwise
/// hold a sample, a scrape or a query (and the scenario waiting for it) forever.
enum Deadline {
    struct Exceeded: Error, CustomStringConvertible {
        var description: String { "timed out" }
    }

    /// Runs `operation`, cancelling it and throwing ``Exceeded`` when `limit` passes first.
    static func run<T: Sendable>(
        within limit: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw Exceeded()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw Exceeded() }
            return first
        }
    }
}
