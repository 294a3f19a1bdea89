// libnetfilter_queue (Debian libnetfilter-queue-dev) for the user-space packet delayer, plus
// the Linux headers its API and the delayer's event loop need.
// netinet/in.h before any linux/ header: its libc-compat guards then keep linux/in.h from
// redefining in_addr and sockaddr_in, which Swift would see as two clashing definitions.
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
