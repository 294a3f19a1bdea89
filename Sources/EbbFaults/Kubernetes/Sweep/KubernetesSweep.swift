import EbbCore
import EbbKubernetes
import Foundation
import Logging

/// `ebb rollback sweep --kubernetes`: reverts, with no journal, every Kubernetes change of Ebb's
/// whose `ebb.dev/expires-at` has passed. For when the runner, its guardian and the workspace
/// holding the journal all died (an evicted pod, a cancelled CI job, a lost VM).
///
/// It lists each kind the faults change with the label selector `ebb.dev/run`, rebuilds each
/// object's undo payload from its `ebb.dev/undo` annotation (``SweptKind``) and runs the same
/// undo and verification as `rollback execute`, retried like it. The undos write conditionally
/// (`resourceVersion`; on 409 they re-read and re-check that the mark is still the run's), so
/// sweeps may run from many places at once, and a second sweep finds nothing left to do.
public struct KubernetesSweep: Sendable {
    /// Which namespaces to look in. Nodes are cluster-scoped and always looked at.
    public enum Namespaces: Sendable, Equatable {
        /// The context's namespace, else `default`.
        case context
        case named(String)
        case all
    }

    public var kubeconfig: String?
    public var context: String?
    public var namespaces: Namespaces
    /// Only report what would be reverted.
    public var dryRun = false
    public var attempts = 3
    public var backoff: Duration = .milliseconds(200)
    /// Who reverts, as recorded in the results (`revertedBy`).
    public var actor = "rollback sweep"
    public var logger: Logger

    public init(kubeconfig: String?, context: String?, namespaces: Namespaces, logger: Logger) {
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespaces = namespaces
        self.logger = logger
    }

    /// Sweeps the cluster once; `now` decides what has expired.
    public func run(now: Date = Date()) throws -> KubernetesSweepReport {
        let source = ClusterSource(kubeconfig: kubeconfig, context: context).pinned()
        return try KubeScope.withClient(source) { client in
            var report = KubernetesSweepReport(context: client.config.context, items: [], problems: [])
            let namespace: String? =
                switch namespaces {
                case .context: client.config.namespace ?? "default"
                case .named(let name): name
                case .all: nil
                }
            var expired: [(SweptKind, JSONValue, SweepMark, String, Date)] = []
            for kind in SweptKind.all {
                let objects: [JSONValue]
                do {
                    objects = try client.list(
                        kind.resource.collection(in: namespace), labelSelector: SweepMark.runLabel)
                } catch {
                    report.problems.append("cannot list \(kind.resource.rawValue): \(error)")
                    continue
                }
                for object in objects {
                    switch Self.classify(object, kind: kind, now: now) {
                    case .left(let item): report.items.append(item)
                    case .expired(let mark, let runID, let expiry): expired.append((kind, object, mark, runID, expiry))
                    }
                }
            }
            // Newest first within a run, as the journal's undos run.
            expired.sort { ($0.3, $1.2.sequence) < ($1.3, $0.2.sequence) }
            for (kind, object, mark, runID, expiry) in expired {
                let what = kind.label(object)
                guard !dryRun else {
                    report.items.append(.init(object: what, runID: runID, expiresAt: expiry, outcome: .wouldRevert))
                    continue
                }
                let result = revert(object, kind: kind, mark: mark, runID: runID, source: source)
                let outcome: KubernetesSweepReport.Outcome =
                    result.succeeded ? .reverted : .failed(result.record.message ?? "not verified")
                report.items.append(
                    .init(object: what, runID: runID, expiresAt: expiry, outcome: outcome, result: result))
            }
            return report
        }
    }

    private enum Classification {
        case left(KubernetesSweepReport.Item)
        case expired(SweepMark, runID: String, expiry: Date)
    }

    /// Whether an object with the label is Ebb's, complete and expired. Anything short of that
    /// is left untouched and reported: a label alone proves nothing about who set it.
    private static func classify(_ object: JSONValue, kind: SweptKind, now: Date) -> Classification {
        let what = kind.label(object)
        let runID = object.value(at: "metadata.labels")?[SweepMark.runLabel]?.stringValue ?? ""
        func ignored(_ reason: String) -> Classification {
            .left(.init(object: what, runID: runID, expiresAt: nil, outcome: .ignored(reason)))
        }
        guard SweepMark.isRunID(runID) else { return ignored("\(SweepMark.runLabel)=\(runID) is not an Ebb run id") }
        guard let text = KubeOwnership.annotation(object, SweepMark.undo) else {
            return ignored("no \(SweepMark.undo) annotation")
        }
        guard let mark = SweepMark(text: text) else { return ignored("\(SweepMark.undo) is not an undo Ebb wrote") }
        guard mark.kind == kind.undoKind else {
            return ignored("undo kind \(mark.kind) does not belong on a \(kind.resource.rawValue) object")
        }
        guard kind.owner(object) == runID else {
            return ignored("not marked by run \(runID) the way \(kind.plugin) marks what it changes")
        }
        guard let expiryText = KubeOwnership.annotation(object, SweepMark.expiresAt),
            let expiry = SweepMark.date(expiryText)
        else {
            return ignored("no valid \(SweepMark.expiresAt)")
        }
        guard now >= expiry else {
            return .left(.init(object: what, runID: runID, expiresAt: expiry, outcome: .notExpired))
        }
        return .expired(mark, runID: runID, expiry: expiry)
    }

    /// The journal's undo, rebuilt from the object: undo, then verify, retried; as a result.
    private func revert(
        _ object: JSONValue, kind: SweptKind, mark: SweepMark, runID: String, source: ClusterSource
    ) -> RollbackResult {
        let start = ContinuousClock.now
        var record = UndoRecord(
            runID: runID, sequence: mark.sequence, scenario: mark.scenario, fault: kind.plugin, plugin: kind.plugin,
            target: kind.label(object), kind: kind.undoKind, data: .null, state: .injected,
            armedAt: mark.injectedAt, deadline: Date())
        record.injectedAt = mark.injectedAt
        // No journal: the Kubernetes undos never read their run directory.
        let context = UndoContext(
            runID: runID, runDirectory: URL(fileURLWithPath: "/nonexistent"), logger: logger, services: LiveServices())
        do {
            record.data = try kind.payload(object, mark, source)
            record.state = .revertFailed
            retry: for attempt in 1...attempts {
                record.attempts = attempt
                do {
                    switch try kind.handler.undoThenVerify(record.data, context) {
                    case .irreversible(let reason):
                        record.state = .irreversible
                        record.message = reason
                    case .undone, .gone:
                        record.state = .reverted
                        record.message = nil
                    }
                    break retry
                } catch {
                    record.message = "\(error)"
                    logger.info("sweep attempt \(attempt)/\(attempts) of \(record.target) failed: \(error)")
                    if attempt < attempts { Thread.sleep(forTimeInterval: backoff.seconds * Double(attempt)) }
                }
            }
        } catch {
            record.state = .revertFailed
            record.message = "cannot rebuild the undo from \(SweepMark.undo): \(error)"
        }
        record.finishedAt = Date()
        record.revertedBy = actor
        return RollbackResult(record: record, duration: ContinuousClock.now - start)
    }
}

/// What one sweep saw and did.
public struct KubernetesSweepReport: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Expired, reverted and verified.
        case reverted
        /// Expired, but the undo or its verification failed (the message says why).
        case failed(String)
        /// Ebb's, but not expired yet: its run (or guardian) may still be holding it.
        case notExpired
        /// `--dry-run`: expired, and would be reverted.
        case wouldRevert
        /// Labelled `ebb.dev/run` but not provably a complete Ebb change: never touched.
        case ignored(String)
    }

    public struct Item: Sendable {
        /// `deployment shop/web`, `node node-1`.
        public var object: String
        public var runID: String
        public var expiresAt: Date?
        public var outcome: Outcome
        /// The undo as a journal-like result, for the rollback summary.
        public var result: RollbackResult?
    }

    /// The kubeconfig context swept.
    public var context: String
    public var items: [Item]
    /// Kinds that could not be listed (RBAC, an API server error): the sweep is incomplete.
    public var problems: [String]

    /// The undos run, as results.
    public var results: [RollbackResult] { items.compactMap(\.result) }

    /// Everything expired was reverted and verified, and every kind could be listed.
    public var isComplete: Bool { problems.isEmpty && results.allSatisfy(\.succeeded) }
}

extension KubernetesSweepReport {
    /// One line per object, for people; failures and problems say why.
    public var text: String {
        var lines = ["sweep of Kubernetes context \(context):"]
        for item in items {
            let run =
                item.runID.isEmpty
                ? ""
                : " (run \(item.runID)"
                    + (item.expiresAt.map { ", expires-at \(SweepMark.timestamp($0))" } ?? "") + ")"
            let (state, note): (String, String) =
                switch item.outcome {
                case .reverted: ("reverted", "")
                case .failed(let message): ("revert-failed", " - \(message)")
                case .notExpired: ("not expired", ": left for its run")
                case .wouldRevert: ("would revert", "")
                case .ignored(let reason): ("ignored", ": \(reason); not touched")
                }
            lines.append("  \(state.padded(toWidth: 13)) \(item.object)\(run)\(note)")
        }
        lines += problems.map { "  ERROR \($0)" }
        if items.isEmpty && problems.isEmpty {
            lines.append("  nothing labelled \(SweepMark.runLabel): nothing to revert")
        }
        return lines.joined(separator: "\n")
    }
}
