import EbbCore
import EbbKubernetes
import Foundation

/// What the `cloud.aws.*` faults share: which API (region, endpoint, profile), which instances
/// (ids or tags) and the blast-radius controls: a ceiling on the number of instances, and a
/// tag that keeps an instance out of every selection.
struct EC2Scope: Sendable {
    /// Instances tagged `ebb:protected=true` are never targeted, whatever the suite says.
    static let protectedTag = (key: "ebb:protected", value: "true")

    static let parameters: [ParameterSpec] = [
        ParameterSpec("instance_ids", .argv, "the instances' ids, e.g. [i-0123456789abcdef0]"),
        ParameterSpec("tags", .argv, "or tags every chosen instance carries: Key=Value, or Key for any value"),
        ParameterSpec(
            "max_instances", .integer,
            "refuse to act on more instances than this (default 1): ids when the suite loads, tags at preflight"),
        ParameterSpec(
            "region", .string,
            "AWS region (default $AWS_REGION, $AWS_DEFAULT_REGION, else the profile's; none: refused)"),
        ParameterSpec(
            "profile", .string,
            "profile of ~/.aws/credentials and ~/.aws/config (default: the environment's keys, else $AWS_PROFILE, else default)"
        ),
        ParameterSpec(
            "endpoint", .string,
            "EC2 API URL (default $AWS_ENDPOINT_URL_EC2, $AWS_ENDPOINT_URL, else the region's); plain http only to this machine"
        ),
        ParameterSpec(
            "running_timeout", .duration,
            "how long the undo's verification waits for the instances to be running (and their nodes Ready) (default 240s)"
        ),
        ParameterSpec(
            "node_ready", .boolean,
            "also verify that the Kubernetes node on each instance is Ready again (node found by spec.providerID, else by private DNS name; default false)"
        ),
        ParameterSpec(
            "kubeconfig", .string,
            "with node_ready: kubeconfig file (default or empty: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)"
        ),
        ParameterSpec("context", .string, "with node_ready: kubeconfig context (default: its current-context)"),
    ]

    enum Selection: Sendable {
        case ids([String])
        /// Key and value; a nil value matches any value of the key.
        case tags([(key: String, value: String?)])
    }

    var selection: Selection
    var maxInstances: Int
    var region: String?
    var profile: String?
    var endpoint: String?
    var runningTimeout: Duration
    /// Where the instances' Kubernetes nodes are, when `node_ready` asks for them.
    var cluster: ClusterSource?

    init(_ parameters: FaultParameters, suite: SuiteContext) throws {
        let ids = try parameters.argv("instance_ids")
        let tags = try parameters.argv("tags")
        guard (ids == nil) != (tags == nil) else {
            throw parameters.error("instance_ids", "give either instance_ids or tags")
        }
        maxInstances = try parameters.integer("max_instances") ?? 1
        guard maxInstances >= 1 else { throw parameters.error("max_instances", "must be at least 1") }
        if let ids {
            for id in ids where !Self.isInstanceID(id) {
                throw parameters.error("instance_ids", "'\(id)' is not an EC2 instance id such as i-0123456789abcdef0")
            }
            let unique = Array(Set(ids)).sorted()
            // Known at load time: `ebb validate` refuses it before anything is asked of AWS.
            guard unique.count <= maxInstances else {
                throw parameters.error(
                    "max_instances",
                    "instance_ids names \(unique.count) instances, more than max_instances \(maxInstances)")
            }
            selection = .ids(unique)
        } else {
            selection = .tags(
                try tags!.map { text in
                    let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(
                        String.init)
                    guard let key = parts.first, !key.isEmpty else {
                        throw parameters.error("tags", "'\(text)' is not Key=Value or Key")
                    }
                    return (key: key, value: parts.count == 2 ? parts[1] : nil)
                })
        }
        region = try parameters.string("region").flatMap { $0.isEmpty ? nil : $0 }
        profile = try parameters.string("profile").flatMap { $0.isEmpty ? nil : $0 }
        endpoint = try parameters.string("endpoint").flatMap { $0.isEmpty ? nil : $0 }
        if let region {
            do { _ = try AWSEnvironment.checked(region: region) } catch { throw parameters.error("region", "\(error)") }
        }
        runningTimeout = try parameters.duration("running_timeout") ?? .seconds(240)
        guard runningTimeout > .zero else { throw parameters.error("running_timeout", "must be longer than 0s") }
        if try parameters.boolean("node_ready") == true {
            // As the k8s.* faults read it: an empty kubeconfig (an unset `${VAR:-}`) means the default.
            let kubeconfig = try parameters.string("kubeconfig").flatMap { $0.isEmpty ? nil : suite.resolve($0) }
            cluster = ClusterSource(kubeconfig: kubeconfig, context: try parameters.string("context"))
        } else {
            for name in ["kubeconfig", "context"] where parameters.contains(name) {
                throw parameters.error(name, "\(name) is read only with node_ready: true")
            }
        }
    }

    static func isInstanceID(_ text: String) -> Bool {
        text.hasPrefix("i-") && text.count >= 10 && text.dropFirst(2).allSatisfy { $0.isHexDigit }
    }

    /// The connection, completed from the environment now (at preflight): a missing region or
    /// key stops the scenario before anything is injected.
    func connection() throws -> EC2Connection {
        do {
            return try AWSEnvironment().connection(region: region, endpoint: endpoint, profile: profile)
        } catch let error as AWSConfigError {
            throw FaultError(description: error.description)
        }
    }

    var description: String {
        switch selection {
        case .ids(let ids): return "instances \(ids.joined(separator: ", "))"
        case .tags(let tags):
            return "instances tagged "
                + tags.map { tag in tag.value.map { "\(tag.key)=\($0)" } ?? tag.key }.joined(separator: ",")
        }
    }

    /// The running instances the selection chooses, and a note on those it leaves out
    /// (protected, or not running). Refuses more than `max_instances`, and none at all.
    func resolve(_ client: EC2Client, verb: String) throws -> (chosen: [EC2Instance], note: String) {
        let found: [EC2Instance]
        switch selection {
        case .ids(let ids):
            do {
                found = try client.describe(ids: ids)
            } catch let error as EC2APIError where error.isNotFound {
                throw FaultError(description: "\(description): \(error)")
            }
        case .tags(let tags):
            found = try client.describe(
                filters: tags.map { tag in
                    tag.value.map { (name: "tag:\(tag.key)", values: [$0]) } ?? (name: "tag-key", values: [tag.key])
                }
            ).filter { instance in
                // The server filtered already; checked again so that a server ignoring a filter
                // can never widen the selection.
                tags.allSatisfy { tag in instance.tags[tag.key].map { tag.value == nil || $0 == tag.value } ?? false }
            }
        }
        let protected = found.filter { $0.tags[Self.protectedTag.key] == Self.protectedTag.value }
        let eligible = found.filter { $0.tags[Self.protectedTag.key] != Self.protectedTag.value }
        let chosen = eligible.filter { $0.state == "running" }.sorted { $0.id < $1.id }
        let notRunning = eligible.filter { $0.state != "running" && $0.state != "terminated" }
        var notes: [String] = []
        if !protected.isEmpty {
            notes.append("\(protected.count) tagged \(Self.protectedTag.key)=\(Self.protectedTag.value) left out")
        }
        if !notRunning.isEmpty {
            notes.append(
                "not running, left out: " + notRunning.map { "\($0.id) (\($0.state))" }.joined(separator: ", "))
        }
        let note = notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")"
        guard !chosen.isEmpty else {
            throw FaultError(
                description: "\(description) in \(client.connection.region): no running instance to \(verb)\(note)")
        }
        guard chosen.count <= maxInstances else {
            throw FaultError(
                description:
                    "\(description) would \(verb) \(chosen.count) instances (\(chosen.map(\.id).joined(separator: ", "))), more than max_instances \(maxInstances)\(note); nothing was changed"
            )
        }
        return (chosen, note)
    }

    /// The recorded instances with their Kubernetes nodes when `node_ready` asks for them, and
    /// the pinned cluster (so that the undo reads the same cluster, from any process). An
    /// instance without a node is refused: node_ready on it would prove nothing.
    func record(_ chosen: [EC2Instance]) throws -> (instances: [RecordedInstance], cluster: ClusterSource?) {
        guard let cluster else { return (chosen.map { RecordedInstance($0) }, nil) }
        let source = cluster.pinned()
        let nodes = try KubeScope.withClient(source) { try $0.list(KubeResource.nodes.collection(in: nil)) }
        let instances = try chosen.map { instance in
            guard let node = EC2NodeMap.node(of: instance, among: nodes) else {
                throw FaultError(
                    description:
                        "node_ready: no Kubernetes node of \(source) runs on \(instance.label) (none has spec.providerID ending /\(instance.id)\(instance.privateDNSName.map { " or is named \($0)" } ?? ""))"
                )
            }
            return RecordedInstance(instance, node: node)
        }
        return (instances, source)
    }

    /// The plan both `cloud.aws.*` faults make at preflight: the running instances the
    /// selection chooses now, recorded with their nodes, locked one by one. `summary` says what
    /// the undo does with the record; the verification's time limit is added to it.
    func plan<Undo: UndoHandler>(
        verb: String, undo: Undo.Type, summary: (EC2Record) -> String
    ) throws -> FaultPlan where Undo.Payload == EC2Record {
        let connection = try connection()
        let (chosen, note) = try EC2Client.with(connection) { try resolve($0, verb: verb) }
        let (instances, cluster) = try record(chosen)
        let record = EC2Record(
            connection: connection, instances: instances, runningTimeoutSeconds: runningTimeout.seconds,
            cluster: cluster)
        return try FaultPlan(
            target: "EC2 \(record.labels) in \(connection.region)\(note)", undo: undo, payload: record,
            undoSummary: summary(record) + " (up to \(DurationText.format(runningTimeout)))",
            lockKeys: Self.lockKeys(connection, chosen))
    }

    /// One lock per instance, so that no second run on this machine faults it meanwhile.
    static func lockKeys(_ connection: EC2Connection, _ instances: [EC2Instance]) -> [String] {
        instances.map { "aws-ec2-\(connection.region)-\($0.id)" }
    }
}

/// What every `cloud.aws.*` record holds, whichever its undo kind.
public struct EC2Record: Codable, Sendable {
    /// The API, region and profile (never a key).
    var connection: EC2Connection
    /// The instances Ebb acted on: only ones that were running at preflight.
    var instances: [RecordedInstance]
    var runningTimeoutSeconds: Double
    /// With `node_ready`: the cluster of the instances' nodes (each instance names its node).
    var cluster: ClusterSource?

    /// The instances, for people.
    var labels: String { instances.map(\.label).joined(separator: ", ") }

    /// What the verification waits for besides the instances: with `node_ready`,
    /// ", their Kubernetes nodes (…) Ready"; else nothing.
    var nodesReady: String {
        cluster == nil
            ? "" : ", their Kubernetes nodes (" + instances.compactMap(\.node).joined(separator: ", ") + ") Ready"
    }
}

/// One instance as a `cloud.aws.*` record names it.
public struct RecordedInstance: Codable, Sendable, Equatable {
    public var id: String
    /// Its `Name` tag when it had one, for people reading the journal.
    public var name: String?
    /// The Kubernetes node on it, with `node_ready` (else nil).
    public var node: String?

    init(_ instance: EC2Instance, node: String? = nil) {
        id = instance.id
        name = instance.name
        self.node = node
    }

    var label: String { name.map { "\(id) (\($0))" } ?? id }
}

/// Which Kubernetes node runs on an EC2 instance: the one whose `spec.providerID` is
/// `aws:///<zone>/<instance id>` (set by the AWS cloud provider, EKS included), else the one
/// named after the instance's private DNS name (kubelet's default name on EC2).
enum EC2NodeMap {
    static func node(of instance: EC2Instance, among nodes: [JSONValue]) -> String? {
        let names = nodes.compactMap { node -> (name: String, provider: String?)? in
            guard let name = node.value(at: "metadata.name")?.stringValue else { return nil }
            return (name, node.value(at: "spec.providerID")?.stringValue)
        }
        if let byProvider = names.first(where: {
            $0.provider.map { $0.hasPrefix("aws://") && $0.hasSuffix("/\(instance.id)") } ?? false
        }) {
            return byProvider.name
        }
        guard let dns = instance.privateDNSName else { return nil }
        return names.first { $0.name == dns }?.name
    }

    /// The node's Ready condition: "True", "False", "Unknown", or nil when it has none.
    static func ready(_ node: JSONValue) -> String? {
        node.value(at: "status.conditions")?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }?["status"]?
            .stringValue
    }
}

/// The waits and checks the `cloud.aws.*` undos share.
enum EC2Wait {
    /// The verification both undos share: every instance `running`, then, with `cluster`, every
    /// recorded node `Ready`, all within `timeout`. The nodes of terminated instances are not
    /// waited for: they will never be Ready, and the undo reported their instances.
    static func verify(
        _ connection: EC2Connection, _ instances: [RecordedInstance], cluster: ClusterSource?, timeout: Duration
    ) throws {
        let clock = ContinuousClock()
        let start = clock.now
        let found = try EC2Client.with(connection) { try untilRunning($0, instances, timeout: timeout) }
        guard let cluster else { return }
        let nodes = instances.filter { instance in !((found[instance.id] ?? nil).map(isGone) ?? false) }
            .compactMap { instance in instance.node.map { (instance, $0) } }
        guard !nodes.isEmpty else { return }
        try KubeScope.withClient(cluster) { client in
            var states: [String: String] = [:]
            let ready = Poll.until(timeout: max(.zero, timeout - (clock.now - start)), every: .seconds(2)) {
                for (_, node) in nodes where states[node] != "True" {
                    do {
                        states[node] =
                            try client.find(KubeResource.nodes.path(node, in: nil)).map {
                                EC2NodeMap.ready($0) ?? "no Ready condition"
                            } ?? "not found"
                    } catch {
                        states[node] = "unreadable (\(error))"
                    }
                }
                return nodes.allSatisfy { states[$0.1] == "True" }
            }
            guard !ready else { return }
            let pending = nodes.filter { states[$0.1] != "True" }.map {
                "node \($0.1) on \($0.0.label): Ready \(states[$0.1] ?? "?")"
            }
            throw VerificationFailure(
                "instances running, but not every Kubernetes node Ready within \(DurationText.format(timeout)): \(pending.joined(separator: ", "))"
            )
        }
    }

    /// Polls DescribeInstances until every instance is `running`, up to `timeout`, and returns
    /// what it saw last. Terminated instances are skipped: nothing can make them run, and the
    /// undo reported them already. Throws a ``VerificationFailure`` naming the states.
    @discardableResult
    static func untilRunning(
        _ client: EC2Client, _ instances: [RecordedInstance], timeout: Duration
    ) throws -> [String: EC2Instance?] {
        var last: [String: EC2Instance?] = [:]
        var lastError: Error?
        let running = Poll.until(timeout: timeout, every: .seconds(2)) {
            do {
                last = try known(client, instances)
                lastError = nil
            } catch let error as VerificationFailure {
                lastError = error
                return true  // unknown to EC2: waiting will not change that
            } catch {
                lastError = error
                return false
            }
            return last.values.allSatisfy { instance in
                guard let instance else { return true }
                return instance.state == "running" || isGone(instance)
            }
        }
        if let failure = lastError as? VerificationFailure { throw failure }
        guard !running else { return last }
        if let lastError {
            throw VerificationFailure("instances not seen running within \(DurationText.format(timeout)): \(lastError)")
        }
        let states = instances.map { recorded in "\(recorded.label) \((last[recorded.id] ?? nil)?.state ?? "unknown")" }
        throw VerificationFailure(
            "instances not running within \(DurationText.format(timeout)): \(states.joined(separator: ", "))")
    }

    /// Each recorded instance as EC2 reports it now. An id EC2 does not know fails closed: the
    /// instance may have been terminated over an hour ago, but the keys may as well be another
    /// account's, where a stopped instance would stay stopped unseen.
    static func known(_ client: EC2Client, _ instances: [RecordedInstance]) throws -> [String: EC2Instance?] {
        let found = try client.describeEach(ids: instances.map(\.id))
        let unknown = instances.filter { (found[$0.id] ?? nil) == nil }
        guard unknown.isEmpty else {
            throw VerificationFailure(
                "EC2 at \(client.connection.endpoint) (region \(client.connection.region)) does not know \(unknown.map(\.label).joined(separator: ", ")) with these credentials: terminated long ago, or the keys are another account's; look at it by hand"
            )
        }
        return found
    }

    /// Terminated, or on its way there: gone for good, nothing to start.
    static func isGone(_ instance: EC2Instance) -> Bool {
        instance.state == "terminated" || instance.state == "shutting-down"
    }

    /// The recorded instances that are gone for good, as a sentence for the record, or nil.
    static func goneNote(_ found: [String: EC2Instance?], _ instances: [RecordedInstance]) -> String? {
        let gone = instances.filter { (found[$0.id] ?? nil).map(isGone) ?? false }
        guard !gone.isEmpty else { return nil }
        return gone.map { "\($0.label) is \((found[$0.id] ?? nil)?.state ?? "gone")" }.joined(separator: ", ")
            + " (not by Ebb): nothing can bring it back"
    }
}
