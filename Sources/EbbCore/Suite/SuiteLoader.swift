import Foundation
import Yams

/// Reads suite files and validates them completely (plugins included) before anything runs.
public struct SuiteLoader: Sendable {
    public let catalog: PluginCatalog
    /// Reads `checks:` and `telemetry:`; without one, a suite that has them is refused.
    public let checkReader: (any CheckSectionReader)?
    /// Reads `proxies:`; without one, a suite that has them is refused.
    public let proxyReader: (any ProxySectionReader)?
    /// Runs faults on the suite's `hosts:`; without one, a suite that has them is refused.
    public let remoteFaults: (any RemoteFaultMaker)?
    /// Where `${NAME}` references are looked up.
    public let environment: [String: String]
    /// Learns the values of the variables a suite names in `secret_env:`.
    public let redactor: SecretRedactor

    public init(
        catalog: PluginCatalog, checkReader: (any CheckSectionReader)? = nil,
        proxyReader: (any ProxySectionReader)? = nil,
        remoteFaults: (any RemoteFaultMaker)? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, redactor: SecretRedactor = .shared
    ) {
        self.catalog = catalog
        self.remoteFaults = remoteFaults
        self.checkReader = checkReader
        self.proxyReader = proxyReader
        self.environment = environment
        self.redactor = redactor
    }

    static let suiteKeys = [
        "suite", "allowed_roots", "include", "include_roots", "secret_env", "hosts", "setup", "proxies", "checks",
        "telemetry", "scenarios",
    ]
    static let includeKeys = ["checks", "telemetry"]
    static let fixtureKeys = ["name", "command", "env", "directory", "ready", "host"]
    static let readinessKeys = ["http", "tcp", "command", "timeout"]
    static let scenarioKeys = ["name", "faults", "duration", "wait_before", "wait_after", "checks"]

    /// Loads the suite at `path`, throwing ``SuiteErrors`` with every problem found.
    public func load(path: String) throws -> Suite {
        let text: String
        do {
            text = try SuiteFile.read(path)
        } catch {
            throw SuiteErrors([
                SuiteError(file: path, line: 1, column: 1, key: "(file)", message: "cannot read the suite: \(error)")
            ])
        }
        return try load(text: text, path: path)
    }

    /// Loads a suite from `text`; `path` names it in errors and anchors relative paths.
    public func load(text: String, path: String) throws -> Suite {
        let reader = YAMLNodeReader(file: path)
        let root = try compose(text, path: path, reader: reader)
        var problems = SuiteProblems { reader.error(root, "(file)", "\($0)") }

        var unknown: [SuiteError] = []
        guard
            let values = problems.collect({
                try reader.knownEntries(root, at: "", allowed: Self.suiteKeys, problems: &unknown)
            })
        else {
            try problems.throwIfAny()
            throw SuiteErrors([])
        }
        problems.add(unknown)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL
        // First, so that every later message (errors included) is redacted.
        if let node = values["secret_env"] {
            let variables = problems.collect { try reader.stringList(node, "secret_env") } ?? []
            redactor.register(variables: variables, from: environment)
        }

        let name =
            values["suite"].flatMap { node in problems.collect { try reader.string(node, "suite") } }
            ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let roots =
            values["allowed_roots"].flatMap { node in problems.collect { try reader.stringList(node, "allowed_roots") }
            } ?? []
        let hosts =
            values["hosts"].flatMap { node in problems.collect { try self.hosts(node, reader, relativeTo: directory) } }
            ?? []
        if let node = values["hosts"], !hosts.isEmpty, remoteFaults == nil {
            problems.add(reader.error(node, "hosts", "this build of ebb cannot act on remote hosts"))
        }
        let fixtures =
            values["setup"].flatMap { node in
                problems.collect { try self.fixtures(node, reader, relativeTo: directory, hosts: hosts) }
            } ?? []
        var proxies: [any SuiteProxy] = []
        if let node = values["proxies"] {
            if let proxyReader {
                proxies = problems.collect { try proxyReader.read(node, reader: reader) } ?? []
            } else {
                problems.add(reader.error(node, "proxies", "this build of ebb has no fault proxy"))
            }
        }
        let context = SuiteContext(
            directory: directory,
            allowedRoots: roots.map { URL(fileURLWithPath: $0, relativeTo: directory).standardizedFileURL.path },
            fixtures: fixtures,
            proxyNames: proxies.map(\.name)
        )
        var sections = [
            CheckSections(
                checks: values["checks"], telemetry: values["telemetry"], reader: reader, directory: directory)
        ]
        let includeRoots =
            values["include_roots"].map { node in
                problems.collect { try self.includeRoots(node, reader, relativeTo: directory) } ?? []
            } ?? []
        if let includeNode = values["include"] {
            let items = problems.collect { try reader.sequence(includeNode, "include") } ?? []
            let roots = [SuiteFile.canonicalPath(directory.path) ?? directory.path] + includeRoots
            for (index, item) in items.enumerated() {
                let key = "include[\(index)]"
                if let included = problems.collect({
                    try self.included(
                        reader.string(item, key), at: key, node: item, reader, relativeTo: directory, roots: roots)
                }) {
                    sections.append(included)
                }
            }
        }
        var checks: (any CheckPlan)?
        if let first = sections.first(where: { $0.checks != nil || $0.telemetry != nil }) {
            if let checkReader {
                for index in sections.indices { sections[index].hosts = hosts }
                checks = problems.collect { try checkReader.read(sections) }
            } else {
                let key = first.checks != nil ? "checks" : "telemetry"
                problems.add(
                    first.reader.error(first.checks ?? first.telemetry, key, "this build of ebb cannot evaluate checks")
                )
            }
        }

        var scenarios: [Scenario] = []
        if let node = values["scenarios"] {
            let items = problems.collect({ try reader.sequence(node, "scenarios") }) ?? []
            for (index, item) in items.enumerated() {
                if let scenario = problems.collect({
                    try self.scenario(
                        item, at: "scenarios[\(index)]", reader, context, checkNames: checks?.names ?? [], hosts: hosts)
                }) {
                    if scenarios.contains(where: { $0.name == scenario.name }) {
                        problems.add(
                            reader.error(
                                item, "scenarios[\(index)].name", "scenario name '\(scenario.name)' is used twice"))
                    }
                    scenarios.append(scenario)
                }
            }
            if scenarios.isEmpty && problems.isEmpty {
                problems.add(reader.error(node, "scenarios", "the suite has no scenarios"))
            }
        } else {
            problems.add(reader.error(root, "scenarios", "missing required key 'scenarios'"))
        }
        try problems.throwIfAny()
        return Suite(
            name: name, path: path, allowedRoots: context.allowedRoots, fixtures: fixtures, proxies: proxies,
            checks: checks, scenarios: scenarios, hosts: hosts, remote: hosts.isEmpty ? nil : remoteFaults)
    }

    /// Composes the YAML tree of a suite or included file, then substitutes the environment
    /// into its scalars (see ``EnvironmentSubstitution``). Absurd nesting is refused first.
    private func compose(_ text: String, path: String, reader: YAMLNodeReader) throws -> Node {
        try NestingLimit.check(text, file: path)
        let prepared = try EnvironmentSubstitution.prepare(text, file: path, environment: environment)
        do {
            guard let node = try YAMLNodeReader.compose(prepared.text) else {
                throw SuiteErrors([reader.error(nil, "(file)", "the file is empty")])
            }
            return EnvironmentSubstitution.resolve(node, in: prepared)
        } catch let error as YamlError {
            throw SuiteErrors([Self.syntaxError(error, file: path)])
        }
    }

    /// The canonical folders of `include_roots:` (relative to the suite), which must exist.
    private func includeRoots(_ node: Node, _ reader: YAMLNodeReader, relativeTo directory: URL) throws -> [String] {
        try reader.sequence(node, "include_roots").enumerated().map { index, item in
            let key = "include_roots[\(index)]"
            let path = URL(fileURLWithPath: try reader.string(item, key), relativeTo: directory).standardizedFileURL
                .path
            guard let canonical = SuiteFile.canonicalPath(path) else {
                throw reader.error(item, key, "\(path) does not exist")
            }
            return canonical
        }
    }

    /// A file of shared `checks:` and `telemetry:` that a suite includes. It must resolve
    /// (symlinks followed) to a regular file inside one of `roots`, so that an include can
    /// never read `/proc/self/environ`, a device or a file of another project.
    private func included(
        _ relative: String, at key: String, node: Node, _ reader: YAMLNodeReader, relativeTo directory: URL,
        roots: [String]
    ) throws -> CheckSections {
        let url = URL(fileURLWithPath: relative, relativeTo: directory).standardizedFileURL
        guard let canonical = SuiteFile.canonicalPath(url.path) else {
            throw reader.error(node, key, "cannot read the included file \(url.path): it does not exist")
        }
        guard roots.contains(where: { SuiteFile.path(canonical, isInside: $0) }) else {
            throw reader.error(
                node, key,
                "\(reader.quoted(relative)) resolves to \(canonical), outside the suite's folder \(roots[0])"
                    + (roots.count > 1 ? " and its include_roots" : "")
                    + "; list its folder in 'include_roots:' to allow it")
        }
        let text: String
        do {
            text = try SuiteFile.read(canonical)
        } catch {
            throw reader.error(node, key, "cannot read the included file: \(error)")
        }
        let includedReader = YAMLNodeReader(file: url.path)
        let root = try compose(text, path: url.path, reader: includedReader)
        let values = Dictionary(
            uniqueKeysWithValues: try includedReader.entries(root, at: "", allowed: Self.includeKeys).map {
                ($0.key, $0.value)
            })
        return CheckSections(
            checks: values["checks"], telemetry: values["telemetry"], reader: includedReader,
            directory: url.deletingLastPathComponent())
    }

    private func fixtures(
        _ node: Node, _ reader: YAMLNodeReader, relativeTo suiteDirectory: URL, hosts: [RemoteHost]
    ) throws -> [Fixture] {
        var fixtures: [Fixture] = []
        for (index, item) in try reader.sequence(node, "setup").enumerated() {
            let key = "setup[\(index)]"
            let entries = try reader.entries(item, at: key, allowed: Self.fixtureKeys)
            let values = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
            guard let nameNode = values["name"] else {
                throw reader.error(item, "\(key).name", "a fixture needs a name")
            }
            guard let commandNode = values["command"] else {
                throw reader.error(item, "\(key).command", "a fixture needs a command (a list: [program, arg, ...])")
            }
            let name = try reader.string(nameNode, "\(key).name")
            if fixtures.contains(where: { $0.name == name }) {
                throw reader.error(nameNode, "\(key).name", "fixture name '\(name)' is used twice")
            }
            let command = try reader.stringList(commandNode, "\(key).command")
            guard !command.isEmpty else {
                throw reader.error(commandNode, "\(key).command", "the command needs at least a program name")
            }
            var environment: [String: String] = [:]
            if let envNode = values["env"] {
                for entry in try reader.entries(envNode, at: "\(key).env", allowed: nil) {
                    environment[entry.key] = try reader.string(entry.value, "\(key).env.\(entry.key)")
                }
            }
            // On a host, the suite's folder means nothing: a directory is a path there, as written.
            let host = try values["host"].map { try fixtureHost($0, at: "\(key).host", reader, among: hosts) }
            let directory = try values["directory"].map { try reader.string($0, "\(key).directory") }
            fixtures.append(
                Fixture(
                    name: name, command: command, environment: environment,
                    directory: host != nil
                        ? directory
                        : directory.map {
                            URL(fileURLWithPath: $0, relativeTo: suiteDirectory).standardizedFileURL.path
                        } ?? suiteDirectory.path,
                    readiness: try values["ready"].map { try readiness($0, at: "\(key).ready", reader) },
                    host: host
                ))
        }
        return fixtures
    }

    /// The one host a fixture runs on; a fixture is one process tree, so no lists or labels.
    private func fixtureHost(
        _ node: Node, at key: String, _ reader: YAMLNodeReader, among hosts: [RemoteHost]
    ) throws -> RemoteHost {
        guard case .scalar = node else { throw reader.error(node, key, "a fixture runs on one host: give its name") }
        let host = try HostSelection.host(node, key: key, among: hosts, reader: reader)
        guard remoteFaults != nil else { throw reader.error(node, key, "this build of ebb cannot act on remote hosts") }
        return host
    }

    private func readiness(_ node: Node, at key: String, _ reader: YAMLNodeReader) throws -> Readiness {
        let entries = try reader.entries(node, at: key, allowed: Self.readinessKeys)
        let values = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        let timeout = try values["timeout"].map { try reader.duration($0, "\(key).timeout") } ?? .seconds(30)
        let given = ["http", "tcp", "command"].filter { values[$0] != nil }
        guard given.count == 1 else {
            throw reader.error(
                node, key,
                "give exactly one of 'http' (a URL), 'tcp' (host:port) or 'command' (a program that exits 0 when ready)"
            )
        }
        if let command = values["command"] {
            let arguments = try reader.stringList(command, "\(key).command")
            guard !arguments.isEmpty else {
                throw reader.error(command, "\(key).command", "the command needs at least a program name")
            }
            return Readiness(condition: .command(arguments), timeout: timeout)
        }
        switch (values["http"], values["tcp"]) {
        case (let http?, nil):
            let text = try reader.string(http, "\(key).http")
            guard let url = URL(string: text), url.scheme == "http", url.host != nil else {
                throw reader.error(http, "\(key).http", "'\(text)' is not an http:// URL")
            }
            return Readiness(condition: .http(url), timeout: timeout)
        case (nil, let tcp?):
            let text = try reader.string(tcp, "\(key).tcp")
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let port = UInt16(parts[1]) else {
                throw reader.error(tcp, "\(key).tcp", "'\(text)' is not host:port")
            }
            return Readiness(condition: .tcp(host: String(parts[0]), port: port), timeout: timeout)
        default:
            throw reader.error(
                node, key,
                "give exactly one of 'http' (a URL), 'tcp' (host:port) or 'command' (a program that exits 0 when ready)"
            )
        }
    }

    private func scenario(
        _ node: Node, at key: String, _ reader: YAMLNodeReader, _ context: SuiteContext,
        checkNames: [String], hosts: [RemoteHost]
    ) throws -> Scenario {
        var errors: [SuiteError] = []
        let values = try reader.knownEntries(node, at: key, allowed: Self.scenarioKeys, problems: &errors)
        func require(_ name: String, _ message: String) -> Node? {
            // A misspelt key already reported with "did you mean '<name>'" needs no second error.
            let misspelt = errors.contains { $0.message.contains("did you mean '\(name)'") }
            if values[name] == nil && !misspelt { errors.append(reader.error(node, "\(key).\(name)", message)) }
            return values[name]
        }
        let nameNode = require("name", "a scenario needs a name")
        let faultsNode = require("faults", "a scenario needs at least one fault")
        _ = require("duration", "a scenario needs a duration (how long the faults are held), e.g. 5s")
        let name = try nameNode.map { try reader.string($0, "\(key).name") } ?? key
        var faults: [FaultSpec] = []
        var faultNames: Set<String> = []
        let items = try faultsNode.map { try reader.sequence($0, "\(key).faults") } ?? []
        if let faultsNode, items.isEmpty {
            errors.append(reader.error(faultsNode, "\(key).faults", "a scenario needs at least one fault"))
        }
        for (index, item) in items.enumerated() {
            do {
                for spec in try fault(item, at: "\(key).faults[\(index)]", reader, context, hosts: hosts) {
                    guard faultNames.insert(spec.name).inserted else {
                        throw reader.error(
                            item, "\(key).faults[\(index)]",
                            "two faults are named '\(spec.name)'; give one a distinct 'name'")
                    }
                    faults.append(spec)
                }
            } catch let error as SuiteError {
                errors.append(error)
            }
        }
        func duration(_ name: String) -> Duration? {
            guard let node = values[name] else { return name == "duration" ? nil : .zero }
            do { return try reader.duration(node, "\(key).\(name)") } catch let error as SuiteError {
                errors.append(error)
                return nil
            } catch { return nil }
        }
        let (hold, waitBefore, waitAfter) = (duration("duration"), duration("wait_before"), duration("wait_after"))
        var checks: [String]?
        if let checksNode = values["checks"] {
            do {
                let items = try reader.sequence(checksNode, "\(key).checks")
                checks = try items.enumerated().map { index, item in
                    let name = try reader.string(item, "\(key).checks[\(index)]")
                    guard checkNames.contains(name) else {
                        var message = "no suite check or telemetry assertion is named '\(name)'"
                        if let guess = Spelling.suggestion(for: name, among: checkNames) {
                            message += "; did you mean '\(guess)'?"
                        }
                        throw reader.error(item, "\(key).checks[\(index)]", message)
                    }
                    return name
                }
            } catch let error as SuiteError {
                errors.append(error)
            }
        }
        guard errors.isEmpty, let hold, let waitBefore, let waitAfter else {
            throw SuiteErrors(errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return Scenario(
            name: name, faults: faults, duration: hold, waitBefore: waitBefore, waitAfter: waitAfter, checks: checks)
    }

    /// One fault entry: a local fault, or one fault per selected host (named `<name>@<host>`).
    private func fault(
        _ node: Node, at key: String, _ reader: YAMLNodeReader, _ context: SuiteContext,
        hosts: [RemoteHost]
    ) throws -> [FaultSpec] {
        let entries = try reader.entries(node, at: key, allowed: nil)
        let pluginEntries = entries.filter { !["name", "host", "hosts"].contains($0.key) }
        guard pluginEntries.count == 1, let entry = pluginEntries.first else {
            throw reader.error(
                node, key,
                "a fault is one plugin id with its parameters, e.g. 'process.pause: {pid: 42}' "
                    + "(an optional 'name', and 'host' or 'hosts' to act on remote hosts, may sit beside it)")
        }
        guard let plugin = catalog.plugins[entry.key] else {
            var message = "unknown plugin '\(entry.key)'"
            if let guess = Spelling.suggestion(for: entry.key, among: Array(catalog.plugins.keys)) {
                message += "; did you mean '\(guess)'?"
            }
            message += " (see 'ebb plugins')"
            throw reader.error(entry.keyNode, "\(key).\(entry.key)", message)
        }
        let parameters = try FaultParameters(
            node: entry.value, keyPath: "\(key).\(entry.key)", specs: plugin.parameters, reader: reader)
        let fault = try plugin.make(parameters, suite: context)
        let name =
            try entries.first { $0.key == "name" }.map { try reader.string($0.value, "\(key).name") } ?? plugin.id
        let spec = FaultSpec(name: name, pluginID: plugin.id, parameters: parameters.json, fault: fault)
        let selectors = entries.filter { ["host", "hosts"].contains($0.key) }
        guard let selector = selectors.first else { return [spec] }
        if selectors.count > 1 {
            throw reader.error(selectors[1].keyNode, "\(key).\(selectors[1].key)", "give 'host' or 'hosts', not both")
        }
        let selected = try HostSelection.hosts(
            selector.value, key: "\(key).\(selector.key)", among: hosts, reader: reader)
        guard let remoteFaults else {
            throw reader.error(
                selector.keyNode, "\(key).\(selector.key)", "this build of ebb cannot act on remote hosts")
        }
        return try selected.map { host in
            do {
                var remote = spec
                remote.name = "\(name)@\(host.name)"
                remote.fault = try remoteFaults.remote(spec, on: host, suite: context)
                return remote
            } catch {
                throw reader.error(selector.value, "\(key).\(selector.key)", "\(error)")
            }
        }
    }

    /// Yams' own descriptions quote the offending line or the whole document; only the
    /// problem and its place are kept.
    private static func syntaxError(_ error: YamlError, file: String) -> SuiteError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return SuiteError(
                file: file, line: mark.line, column: mark.column, key: "(syntax)",
                message: "YAML syntax: \(Excerpt.of(problem))")
        case .reader(let problem, let offset, _, _):
            return SuiteError(
                file: file, line: 1, column: 1, key: "(syntax)",
                message: "YAML: \(Excerpt.of(problem))" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return SuiteError(
                file: file, line: 1, column: 1, key: "(syntax)", message: "YAML: \(Excerpt.of("\(error)"))")
        }
    }
}
