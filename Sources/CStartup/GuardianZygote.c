// The waiting half of a pre-forked guardian. It is C, not Swift: between fork and exec the
// child calls only system calls on memory it owns, so nothing of the Swift runtime's state
// (locks, caches, threads it has not started yet) is ever relied on in the copy.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "Startup.h"

enum { message_limit = 256 * 1024, argument_limit = 256 };

static int thread_count(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(tasks);
    return count;
}

static void sleep_milliseconds(long milliseconds) {
    struct timespec time = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&time, &time) != 0 && errno == EINTR) {}
}

/// Sleeps until `runner` is gone or `milliseconds` have passed. The runner is this process's
/// parent: a pidfd says when it exits; without one, being re-parented says it.
static void wait_for_runner(pid_t runner, long milliseconds) {
    int pidfd = (int)syscall(SYS_pidfd_open, runner, 0);
    if (pidfd >= 0) {
        struct pollfd entry = {pidfd, POLLIN, 0};
        while (poll(&entry, 1, (int)milliseconds) < 0 && errno == EINTR) {}
        close(pidfd);
        return;
    }
    for (long waited = 0; waited < milliseconds && getppid() == runner; waited += 10) sleep_milliseconds(10);
}

static _Noreturn void wait_then_execute(int start) {
    static char message[message_limit];
    size_t length = 0;
    ssize_t count;
    while (length < sizeof message && (count = read(start, message + length, sizeof message - length)) != 0) {
        if (count < 0) {
            if (errno == EINTR) continue;
            _exit(70);
        }
        length += (size_t)count;
    }
    close(start);
    if (length == 0) _exit(0);  // the runner needed no guardian, or died before its run existed
    if (length == sizeof message || message[length - 1] != '\0') _exit(70);

    char *fields[argument_limit + 5];
    size_t field_count = 0;
    for (size_t offset = 0; offset < length && field_count < argument_limit + 4;) {
        fields[field_count++] = message + offset;
        offset += strlen(message + offset) + 1;
    }
    if (field_count < 5) _exit(70);
    fields[field_count] = NULL;
    long quiet = strtol(fields[0], NULL, 10);
    pid_t runner = (pid_t)strtol(fields[1], NULL, 10);

    wait_for_runner(runner, quiet);

    // A runner that died before its run directory was renamed into place armed nothing; the
    // guardian then finds no run and exits, and its words go nowhere.
    int log = open(fields[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
        close(log);
    }
    if (fields[3][0] != '\0') putenv(fields[3]);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int number = 1; number < NSIG; number++) signal(number, SIG_DFL);
    execv(fields[4], fields + 4);
    _exit(127);
}

pid_t ebb_guardian_zygote_fork(int *start) {
    if (thread_count() != 1) return -1;
    int descriptors[2];
    if (pipe2(descriptors, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(descriptors[0]);
        close(descriptors[1]);
        return -1;
    }
    if (pid > 0) {
        close(descriptors[0]);
        *start = descriptors[1];
        return pid;
    }
    // The child: out of the caller's session (a CI step's cancel kills that process group) and
    // off its standard descriptors (a CI step waits until every writer of its output is gone),
    // holding no other descriptor the caller had.
    setsid();
    prctl(PR_SET_NAME, "ebb guardian");
    close(descriptors[1]);
    // The pipe may have got a standard descriptor number (ebb started with one closed): out of
    // the way first, then /dev/null on 0 to 2, then the pipe on 3 and nothing above it.
    int pipe_end = descriptors[0];
    if (pipe_end < 3) {
        int moved = fcntl(pipe_end, F_DUPFD, 3);
        close(pipe_end);
        if (moved < 0) _exit(70);
        pipe_end = moved;
    }
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        for (int standard = 0; standard < 3; standard++) {
            if (null != standard) dup2(null, standard);
        }
        if (null > 2) close(null);
    }
    if (pipe_end != 3) {
        if (dup2(pipe_end, 3) < 0) _exit(70);
        close(pipe_end);
    }
    closefrom(4);
    wait_then_execute(3);
}

int ebb_guardian_zygote_start(int start, const char *message, size_t length) {
    size_t written = 0;
    while (written < length) {
        ssize_t count = write(start, message + written, length - written);
        if (count < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        written += (size_t)count;
    }
    return close(start);
}
