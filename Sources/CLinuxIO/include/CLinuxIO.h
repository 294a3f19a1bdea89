// Linux calls that Swift's Glibc module hides (they are _GNU_SOURCE or Linux-only), for the
// fault proxy's zero-copy relay: splice(2) through pipes, epoll and eventfd.
#ifndef EBB_CLINUXIO_H
#define EBB_CLINUXIO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// splice(2) without offsets, non-blocking on the pipe, moving pages where the kernel can.
ssize_t ebb_splice(int from, int to, size_t length);

/// pipe2(2) with O_NONBLOCK and O_CLOEXEC; 0 or -1 with errno.
int ebb_pipe(int descriptors[2]);

/// fcntl(F_SETPIPE_SZ); the new capacity or -1 with errno.
int ebb_set_pipe_capacity(int descriptor, int capacity);

/// fcntl(F_GETPIPE_SZ): the pipe's capacity in bytes, or -1 with errno.
int ebb_pipe_capacity(int descriptor);

/// accept4(2) with SOCK_NONBLOCK and SOCK_CLOEXEC.
int ebb_accept(int listener);

#endif
