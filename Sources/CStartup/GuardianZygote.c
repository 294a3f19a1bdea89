// The waiting half of a pre-forked guardian. It is C, not Swift: between fork and exec the
// child calls only system calls on memory it owns, so nothing of the Swift runtime's state
// (locks, caches, threads it has not started yet) is ever relied on in the copy.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/// Reads exactly `length` bytes; false on end of file or an error before that.
static int read_exactly(int descriptor, char *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t count = read(descriptor, buffer + done, length - done);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return 0;
        done += (size_t)count;
    }
    return 1;
}

/// What ended the wait after the start message.
enum outcome { runner_settled, runner_gone, quiet_period_over };

/// Waits on the pipe for at most `milliseconds`. The runner's write end is close-on-exec and
/// no other process holds it, so end of file means the runner is gone (dead, or exited with
/// its run unsettled); a byte means it closed its run settled and no guardian is needed.
static enum outcome wait_for_runner(int start, long milliseconds) {
    struct pollfd entry = {start, POLLIN, 0};
    int ready;
    while ((ready = poll(&entry, 1, (int)milliseconds)) < 0 && errno == EINTR) {}
    if (ready == 0) return quiet_period_over;
    char byte;
    return read_exactly(start, &byte, 1) ? runner_settled : runner_gone;
}

static _Noreturn void wait_then_execute(int start) {
    static char message[message_limit];
    // The header: the message's length in decimal, NUL-terminated.
    char header[24];
    size_t header_length = 0;
    while (1) {
        if (header_length == sizeof header || !read_exactly(start, header + header_length, 1)) {
            _exit(0);  // the runner needed no guardian, or died before its run existed
        }
        if (header[header_length++] == '\0') break;
    }
    size_t length = (size_t)strtoul(header, NULL, 10);
    if (length == 0 || length > sizeof message) _exit(70);
    if (!read_exactly(start, message, length)) _exit(0);
    if (message[length - 1] != '\0') _exit(70);

    char *fields[argument_limit + 4];
    size_t field_count = 0;
    for (size_t offset = 0; offset < length && field_count < argument_limit + 3;) {
        fields[field_count++] = message + offset;
        offset += strlen(message + offset) + 1;
    }
    if (field_count < 4) _exit(70);
    fields[field_count] = NULL;
    long quiet = strtol(fields[0], NULL, 10);

    if (wait_for_runner(start, quiet) == runner_settled) _exit(0);
    close(start);

    // A runner that died before its run directory was renamed into place armed nothing; the
    // guardian then finds no run and exits, and its words go nowhere.
    int log = open(fields[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
        close(log);
    }
    if (fields[2][0] != '\0') putenv(fields[2]);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int number = 1; number < NSIG; number++) signal(number, SIG_DFL);
    execv(fields[3], fields + 3);
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

static int write_all(int descriptor, const char *bytes, size_t length) {
    size_t written = 0;
    while (written < length) {
        ssize_t count = write(descriptor, bytes + written, length - written);
        if (count < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        written += (size_t)count;
    }
    return 0;
}

int ebb_guardian_zygote_start(int start, const char *message, size_t length) {
    char header[24];
    int header_length = snprintf(header, sizeof header, "%zu", length) + 1;
    return write_all(start, header, (size_t)header_length) == 0 ? write_all(start, message, length) : -1;
}

void ebb_guardian_zygote_release(int start) {
    write_all(start, "s", 1);
    close(start);
}
