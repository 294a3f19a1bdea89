import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The load a hog fault puts on the machine, run by `ebb hog-worker` in a process of its own.
/// It ends itself at its deadline, so the load stops even if Ebb and its guardian are gone.
public enum HogWorker {
    public enum Kind: String, CaseIterable, Sendable {
        case cpu, memory, io
    }

    /// Runs `kind` until `deadline`, then returns (the caller exits).
    public static func run(
        _ kind: Kind, threads: Int, bytes: UInt64, directory: String?, filePrefix: String, until deadline: Date
    ) {
        switch kind {
        case .cpu:
            inThreads(threads) { _ in spin(until: deadline) }
        case .memory:
            holdMemory(bytes, until: deadline)
        case .io:
            // The directory is opened once, refusing a symlink, and the files are made in it: the
            // fault checked this directory's identity just before starting the worker.
            guard let directory else { return }
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            inThreads(threads) { index in writeAndSync(directory: fd, name: "\(filePrefix)\(index)", until: deadline) }
        }
    }

    private static func inThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<max(1, count) {
            group.enter()
            Thread.detachNewThread {
                body(index)
                group.leave()
            }
        }
        group.wait()
    }

    /// Keeps one core busy; the clock is read every few million operations.
    private static func spin(until deadline: Date) {
        var value: UInt64 = 0x9E37_79B9_7F4A_7C15
        while Date() < deadline {
            for _ in 0..<2_000_000 { value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407 }
            sink(value)
        }
    }

    /// Keeps the optimizer from removing the spin loop.
    @inline(never)
    private static func sink(_ value: UInt64) {
        if value == 42 { FileHandle.standardError.write(Data()) }
    }

    /// Allocates `bytes` and writes every page, so they are resident, and re-touches them now
    /// and then until the deadline.
    private static func holdMemory(_ bytes: UInt64, until deadline: Date) {
        let count = Int(bytes)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 4096)
        defer { memory.deallocate() }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        while Date() < deadline {
            for offset in stride(from: 0, to: count, by: page) {
                memory.storeBytes(of: UInt8(truncatingIfNeeded: offset), toByteOffset: offset, as: UInt8.self)
            }
            Thread.sleep(forTimeInterval: min(1, max(0, deadline.timeIntervalSinceNow)))
        }
    }

    /// Writes 1 MiB blocks with an fsync each, rewinding at 64 MiB so the disk never fills;
    /// the file is removed at the end.
    private static func writeAndSync(directory: Int32, name: String, until deadline: Date) {
        // O_EXCL: a file planted under the fault's name is never written through.
        let fd = openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer {
            close(fd)
            unlinkat(directory, name, 0)
        }
        let block = [UInt8](repeating: 0xEB, count: 1 << 20)
        var written = 0
        while Date() < deadline {
            if written >= 64 << 20 {
                lseek(fd, 0, SEEK_SET)
                written = 0
            }
            let count = write(fd, block, block.count)
            guard count > 0 else { return }
            written += count
            fsync(fd)
        }
    }
}
