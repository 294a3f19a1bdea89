// Compiled as plain C with _GNU_SOURCE, which a header imported into Swift cannot switch on:
// Glibc's module is already built without it.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "CLinuxIO.h"

ssize_t ebb_splice(int from, int to, size_t length) {
    return splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

int ebb_pipe(int descriptors[2]) {
    return pipe2(descriptors, O_NONBLOCK | O_CLOEXEC);
}

int ebb_set_pipe_capacity(int descriptor, int capacity) {
    return fcntl(descriptor, F_SETPIPE_SZ, capacity);
}

int ebb_pipe_capacity(int descriptor) {
    return fcntl(descriptor, F_GETPIPE_SZ);
}

int ebb_accept(int listener) {
    return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
