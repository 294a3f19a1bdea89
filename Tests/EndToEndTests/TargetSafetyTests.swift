import EbbCore
import EbbTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two runs on one target, and the processes no run may ever fault.
@Suite(.serialized, .ownThread) struct TargetSafetyTests {
    @Test func aSecondRunOnTheSameFileIsRefusedAndTheFileEndsAsItWas() throws {
        let workspace = try Workspace()
        let first = try workspace.write(
            suite: """
                suite: first
                allowed_roots: [files]
                scenarios:
                  - name: hold
                    duration: 5m
                    faults:
                      - file.corrupt: { path: files/a.txt, bytes: 4 }
                """, name: "first.yaml")
        let second = try workspace.write(
            suite: """
                suite: second
                allowed_roots: [files]
                scenarios:
                  - name: overlap
                    duration: 100ms
                    faults:
                      - file.replace: { path: files/a.txt, content: "second run" }
                """, name: "second.yaml")
        let holder = try EbbRun(
            ["run", first, "--state-dir", workspace.state.path, "--report-dir", "reports-1"], in: workspace.url)
        #expect(holder.waitForOutput("holding for"), "\(holder.stdout)\n\(holder.stderr)")
        let corrupted = workspace.content("a.txt")
        #expect(corrupted != workspace.originals["a.txt"])
        let holderID = try unwrap(workspace.runIDs().first)

        let overlap = try EbbRun.run(
            ["run", second, "--state-dir", workspace.state.path, "--report-dir", "reports-2"], in: workspace.url)
        #expect(overlap.status != 0, "\(overlap.stdout)\n\(overlap.stderr)")
        #expect(overlap.stdout.contains("is locked by run \(holderID)"), "\(overlap.stdout)")
        #expect(workspace.content("a.txt") == corrupted, "the second run did not touch the file")

        holder.signal(SIGTERM)
        #expect(holder.wait() == 143, "\(holder.stdout)\n\(holder.stderr)")
        #expect(workspace.content("a.txt") == workspace.originals["a.txt"], "byte-identical to the original")
    }

    @Test func aMatchNeverSelectsTheRunsOwnGuardian() throws {
        let workspace = try Workspace()
        // The workspace's path is in the guardian's command line (--run-dir) and in this
        // bystander's: a match on it hits both, and must pause only the bystander.
        let token = workspace.url.lastPathComponent
        let bystander = try ChildProcess.spawn(["sh", "-c", "sleep 300; :", token])
        workspace.adopt(bystander)
        let suite = try workspace.write(
            suite: """
                suite: guardian
                scenarios:
                  - name: pause
                    duration: 5m
                    faults:
                      - process.pause: { match: "\(token)", all: true }
                """)
        let run = try EbbRun(["run", suite, "--state-dir", workspace.state.path], in: workspace.url)
        #expect(run.waitForOutput("holding for"), "\(run.stdout)\n\(run.stderr)")
        let runID = try unwrap(workspace.runIDs().first)
        let info = try JournalReader(stateDirectory: workspace.state).runs().first { $0.info?.id == runID }?.info
        let guardian = try unwrap(info?.guardianPID)
        #expect(workspace.processState(bystander) == "T", "the bystander is paused")
        #expect(workspace.processState(guardian) != "T", "the guardian is not")
        #expect(run.stdout.contains("excluded 1"), "\(run.stdout)")
        run.signal(SIGTERM)
        #expect(run.wait() == 143, "\(run.stdout)\n\(run.stderr)")
        #expect(workspace.processState(bystander) == "S")
    }
}
