// What ebb does first, before it has threads: calls Swift cannot make, or must not make then.
#ifndef EBB_STARTUP_H
#define EBB_STARTUP_H

#include <sys/types.h>

/// Forks a waiting guardian while the calling process is still single-threaded (the top of
/// `main`). The child leaves the caller's session and standard descriptors at once and waits for
/// its start (see `ebb_guardian_zygote_start`) on a pipe whose write end goes to `*start`
/// (close-on-exec). Returns the child's pid, or -1 when the process already has other threads
/// (forking one then is unsafe) or the fork failed.
pid_t ebb_guardian_zygote_fork(int *start);

/// Hands the waiting guardian its start: the message's length in decimal and a NUL, then the
/// message, NUL-separated: the quiet period in milliseconds, the log file, one environment
/// assignment (or an empty string), then the guardian's argv. `start` stays open: the child
/// waits until the runner is gone (the pipe's end of file) or the quiet period has passed, then
/// executes argv with its output appended to the log. End of file before a whole message: the
/// runner needed no guardian, or died before its run existed, and the child exits.
int ebb_guardian_zygote_start(int start, const char *message, size_t length);

/// Tells a guardian that has not executed yet that its run closed settled, so it exits without
/// executing; closes `start`.
void ebb_guardian_zygote_release(int start);

/// Caps glibc's malloc arenas at `count` (mallopt's M_ARENA_MAX; <malloc.h> is not in Swift's
/// Glibc module). Returns 1 on success.
int ebb_limit_malloc_arenas(int count);

#endif
