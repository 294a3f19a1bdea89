import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The artifacts of `ci/package.sh`, as a user gets them: `$EBB_DEB` names the .deb (the
/// tarball and SHA256SUMS lie beside it). ci/test.sh builds them and sets it.
enum Packaged {
    static let deb: String? = ProcessInfo.processInfo.environment["EBB_DEB"].flatMap { $0.isEmpty ? nil : $0 }
    static let needsDeb = Comment(
        rawValue: "needs EBB_DEB: a .deb written by ci/package.sh (ci/test.sh builds one and sets it)")
    static let isRoot = getuid() == 0
    static let needsRoot = Comment(rawValue: "needs root: a chroot with its own mount, pid and network namespaces")

    static var version: String { get throws { try shell("dpkg-deb -f '\(try #require(deb))' Version").output.trimmed } }

    /// Runs a bash script; the output is stdout and stderr together.
    @discardableResult
    static func shell(_ script: String, timeout: Duration = .seconds(600)) throws -> (status: Int32, output: String) {
        try ChildProcess.run(["/bin/bash", "-o", "pipefail", "-c", script], timeout: timeout)
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
    var lines: [String] { split(separator: "\n").map(String.init) }
}

/// A fresh copy of the clean Debian 12 root of ci/rootfs.sh (essential packages and apt, no
/// Swift), in a temporary folder that is removed at the end. Commands run chrooted in private
/// namespaces, so nothing they mount outlives them.
final class CleanRoot {
    static let script = SchemaTests.repository.appendingPathComponent("ci/rootfs.sh").path
    let path: String

    init() throws {
        path = "/tmp/ebb-rootfs-\(UUID().uuidString.prefix(8))"
        let extract = try Packaged.shell("bash '\(Self.script)' extract '\(path)'", timeout: .seconds(1800))
        try #require(extract.status == 0, "ci/rootfs.sh extract: \(extract.output)")
    }

    /// Runs `script` with bash (or `shell`) inside the root; `network` shares the host's (for apt).
    @discardableResult
    func run(
        _ script: String, network: Bool = false, shell: [String] = ["bash", "-e", "-o", "pipefail"],
        timeout: Duration = .seconds(600)
    ) throws -> (status: Int32, output: String) {
        let name = "/tmp/step-\(UUID().uuidString.prefix(8)).sh"
        try script.write(toFile: path + name, atomically: true, encoding: .utf8)
        let command = [Self.script, "run"] + (network ? ["--net"] : []) + [path] + shell + [name]
        return try ChildProcess.run(["/bin/bash"] + command, timeout: timeout)
    }

    deinit {
        // The namespaces are gone with their processes; refuse to delete through a live mount.
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        if !mounts.contains(" \(path)/") { _ = try? Packaged.shell("rm -rf '\(path)'") }
    }
}

@Suite(.ownThread) struct PackageTests {
    /// Writes the .deb's files into a temporary folder, returns it.
    static func unpacked(_ deb: String) throws -> String {
        let dir = "/tmp/ebb-deb-\(UUID().uuidString.prefix(8))"
        let result = try Packaged.shell("mkdir -p '\(dir)' && dpkg-deb -x '\(deb)' '\(dir)'")
        try #require(result.status == 0, "\(result.output)")
        return dir
    }

    @Test(.enabled(if: Packaged.deb != nil, Packaged.needsDeb))
    func theDebHoldsTheBinaryExamplesCompletionsAndManualAndSaysItsVersion() throws {
        let deb = try #require(Packaged.deb)
        let version = try Packaged.version
        #expect(URL(fileURLWithPath: deb).lastPathComponent == "ebb_\(version)_amd64.deb")
        #expect(!version.hasSuffix("-dev") && version.first?.isNumber == true, "\(version)")
        let dir = try Self.unpacked(deb)
        defer { _ = try? Packaged.shell("rm -rf '\(dir)'") }
        for file in [
            "usr/bin/ebb", "usr/share/ebb/examples/demo.yaml", "usr/share/ebb/examples/demo-files/app.conf",
            "usr/share/ebb/examples/README.md", "usr/share/bash-completion/completions/ebb",
            "usr/share/zsh/vendor-completions/_ebb", "usr/share/fish/vendor_completions.d/ebb.fish",
            "usr/share/man/man1/ebb.1.gz", "usr/lib/systemd/system/ebb-sweep.service",
            "usr/lib/systemd/system/ebb-sweep.timer",
        ] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), "\(file) is not in the .deb")
        }
        let printed = try Packaged.shell("'\(dir)/usr/bin/ebb' --version")
        #expect(printed.status == 0 && printed.output.trimmed == version, "\(printed.output)")
        // Stripped: no symbol table.
        #expect(try Packaged.shell("readelf -S '\(dir)/usr/bin/ebb' | grep -c '\\.symtab'").output.trimmed == "0")
        let manual = try Packaged.shell("zcat '\(dir)/usr/share/man/man1/ebb.1.gz'").output
        #expect(manual.contains(".Dt EBB 1") && manual.contains("rollback"), "\(manual.prefix(300))")
        #expect(
            try Packaged.shell("grep -c 'rollback' '\(dir)/usr/share/bash-completion/completions/ebb'").output.trimmed
                != "0")
        let recommends = try Packaged.shell("dpkg-deb -f '\(deb)' Recommends").output.trimmed
        #expect(recommends == "nftables, iptables, iproute2, stress-ng")
    }

    /// `Depends:` names exactly the packages that ship the libraries the binary links (its
    /// NEEDED entries, found with ldconfig and mapped with dpkg -S), and no Swift runtime.
    @Test(.enabled(if: Packaged.deb != nil, Packaged.needsDeb))
    func dependsAreExactlyThePackagesOfTheLinkedLibraries() throws {
        let deb = try #require(Packaged.deb)
        let dir = try Self.unpacked(deb)
        defer { _ = try? Packaged.shell("rm -rf '\(dir)'") }
        let needed = try Packaged.shell("objdump -p '\(dir)/usr/bin/ebb' | awk '$1 == \"NEEDED\" { print $2 }'")
        try #require(needed.status == 0 && !needed.output.lines.isEmpty, "\(needed.output)")
        #expect(
            !needed.output.lines.contains {
                $0.hasPrefix("libswift") || $0.hasPrefix("libFoundation") || $0.hasPrefix("libdispatch")
            },
            "the Swift runtime must be linked in: \(needed.output)")
        var linked: Set<String> = []
        for soname in needed.output.lines {
            let owner = try Packaged.shell(
                """
                path=$(ldconfig -p | awk -v s='\(soname)' '$1 == s && /x86-64/ { print $NF; exit }')
                test -n "$path"
                for p in "$path" "/usr$path" "$(realpath "$path")"; do dpkg -S "$p" 2>/dev/null && break; done | head -1 | cut -d: -f1
                """)
            #expect(owner.status == 0 && !owner.output.trimmed.isEmpty, "no package ships \(soname): \(owner.output)")
            linked.insert(owner.output.trimmed)
        }
        let depends = try Packaged.shell("dpkg-deb -f '\(deb)' Depends").output.trimmed
        let named = Set(
            depends.split(separator: ",").map { String($0).trimmed.split(separator: " ").first.map(String.init) ?? "" })
        #expect(named == linked, "Depends: \(depends); linked: \(linked.sorted())")
    }

    @Test(.enabled(if: Packaged.deb != nil, Packaged.needsDeb))
    func theTarballHoldsTheSameFilesAndTheSumsMatch() throws {
        let deb = try #require(Packaged.deb)
        let version = try Packaged.version
        let dist = URL(fileURLWithPath: deb).deletingLastPathComponent().path
        let tarball = "\(dist)/ebb-\(version)-linux-x86_64.tar.gz"
        let inTar = try Packaged.shell(
            "tar -tzf '\(tarball)' | grep -v '/$' | sed 's|^ebb-\(version)-linux-x86_64/||' | sort")
        let inDeb = try Packaged.shell(
            "dpkg-deb -c '\(deb)' | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\\./usr/||' | sort")
        #expect(inTar.status == 0 && inDeb.status == 0, "\(inTar.output)\(inDeb.output)")
        #expect(inTar.output.lines.count > 10 && inTar.output == inDeb.output)
        let sums = try Packaged.shell("cd '\(dist)' && sha256sum -c SHA256SUMS")
        #expect(sums.status == 0, "\(sums.output)")
        #expect(sums.output.contains("ebb_\(version)_amd64.deb: OK") && sums.output.contains("linux-x86_64.tar.gz: OK"))
    }

    /// The user's path, on a machine that never saw Swift: `apt-get install ./ebb_*.deb` pulls
    /// the Depends from Debian's archive; then `ebb --version`, `ebb validate`, and the demo,
    /// copied out of /usr/share/ebb/examples (where a user cannot write) as README says.
    @Test(.enabled(if: Packaged.deb != nil, Packaged.needsDeb), .enabled(if: Packaged.isRoot, Packaged.needsRoot))
    func installsAndRunsTheDemoInACleanDebianRootWithoutSwift() throws {
        let deb = try #require(Packaged.deb)
        let version = try Packaged.version
        let root = try CleanRoot()
        let name = URL(fileURLWithPath: deb).lastPathComponent
        #expect(try Packaged.shell("cp '\(deb)' '\(root.path)/tmp/'").status == 0)
        let noSwift = try root.run(
            #"! command -v swift && test -z "$(find / -xdev \( -name 'libswiftCore*' -o -name 'libFoundation.so*' \) -print -quit)""#
        )
        #expect(noSwift.status == 0, "the clean root has Swift: \(noSwift.output)")
        let update = try root.run("apt-get update -qq", network: true)
        try #require(update.status == 0, "\(update.output)")

        let clock = ContinuousClock()
        let start = clock.now
        let install = try root.run("cd /tmp && apt-get install -y -qq ./\(name)", network: true)
        try #require(install.status == 0, "\(install.output)")
        let printed = try root.run("ebb --version")
        #expect(printed.status == 0 && printed.output.trimmed == version, "\(printed.output)")
        let validate = try root.run("ebb validate /usr/share/ebb/examples/*.yaml")
        #expect(validate.status == 0, "\(validate.output)")
        let demo = try root.run("cp -r /usr/share/ebb/examples ~/ebb-demo && cd ~/ebb-demo && ebb run demo.yaml")
        let elapsed = clock.now - start
        #expect(demo.status == 0, "\(demo.output)")
        print("PackageTests: apt-get install ./\(name) to the end of the demo in a clean Debian root: \(elapsed)")

        // The demo's files are as shipped (no leftovers either), and the reports are there.
        let diff = try root.run("diff -r /usr/share/ebb/examples/demo-files ~/ebb-demo/demo-files")
        #expect(diff.status == 0, "\(diff.output)")
        let junit = try root.run(
            "test -s ~/ebb-demo/reports/junit.xml && ebb report validate ~/ebb-demo/reports/junit.xml")
        #expect(junit.status == 0, "\(junit.output)")
    }

    /// The container image of ci/image.sh (the clean root with the .deb, `podman import`ed)
    /// runs `ebb validate`. podman here needs the runc runtime and explicit ulimits.
    @Test(
        .enabled(if: Packaged.deb != nil, Packaged.needsDeb), .enabled(if: Packaged.isRoot, Packaged.needsRoot),
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/podman"), "needs podman (ci/test.sh installs it)"
        ))
    func theContainerImageValidatesTheExamples() throws {
        let deb = try #require(Packaged.deb)
        let version = try Packaged.version
        let build = try Packaged.shell(
            "bash '\(SchemaTests.repository.path)/ci/image.sh' '\(deb)'", timeout: .seconds(1800))
        try #require(build.status == 0, "\(build.output)")
        let image = try #require(build.output.lines.last?.trimmed)
        #expect(image == "ebb:" + version.replacingOccurrences(of: "+", with: "-"))  // a tag cannot hold "+"
        defer { _ = try? Packaged.shell("podman rmi '\(image)' ebb:latest") }
        let podman =
            "podman run --rm --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --network none '\(image)'"
        let printed = try Packaged.shell("\(podman) ebb --version")
        #expect(printed.status == 0 && printed.output.trimmed == version, "\(printed.output)")
        let validate = try Packaged.shell("\(podman) ebb validate /usr/share/ebb/examples/demo.yaml")
        #expect(validate.status == 0, "\(validate.output)")
    }
}
