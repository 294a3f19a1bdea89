import CStartup

/// glibc's malloc arenas. glibc gives each thread that allocates an arena of its own, up to
/// eight per core, and keeps their pages; Ebb's threads mostly wait on system calls and
/// contend little for one.
public enum MallocArenas {
    /// Caps the arenas at two, before the process has threads: 0.4 MiB off the peak RSS of a
    /// 50-fault run, whose blocking work runs on dozens of threads.
    public static func limit() {
        _ = ebb_limit_malloc_arenas(2)
    }
}
