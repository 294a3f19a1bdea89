#!/bin/sh
# The sandbox of linux-network.yaml, run as its fixture: two network namespaces joined by a
# veth pair (10.231.0.1 and 10.231.0.2, addresses that exist only inside them), with Ebb's
# demo target serving in the server namespace. It runs until Ebb stops the fixture, then
# removes the namespaces, and with them every table, rule and qdisc a fault could have left.
set -eu
server=ebbnet-srv
client=ebbnet-cli
ebb=${EBB_EXECUTABLE:?run me as a fixture of ebb}

remove() {
    if [ -n "${demo:-}" ]; then
        kill "$demo" 2>/dev/null || true
        wait "$demo" 2>/dev/null || true
    fi
    ip netns delete "$server" 2>/dev/null || true
    ip netns delete "$client" 2>/dev/null || true
}
# A sandbox that still has processes belongs to another run of this suite: leave it alone.
for namespace in "$server" "$client"; do
    if [ -n "$(ip netns pids "$namespace" 2>/dev/null)" ]; then
        echo "sandbox: $namespace is in use (pids $(ip netns pids "$namespace" | tr '\n' ' ')); is another run of this suite going?" >&2
        exit 1
    fi
done
trap 'remove; exit 0' TERM INT
trap remove EXIT
# An idle sandbox is one a run killed with SIGKILL left behind: ours to replace.
remove

ip netns add "$server"
ip netns add "$client"
ip link add ebbnet-s netns "$server" type veth peer name ebbnet-c netns "$client"
ip -n "$server" addr add 10.231.0.1/24 dev ebbnet-s
ip -n "$client" addr add 10.231.0.2/24 dev ebbnet-c
for namespace in "$server" "$client"; do ip -n "$namespace" link set lo up; done
ip -n "$server" link set ebbnet-s up
ip -n "$client" link set ebbnet-c up

ip netns exec "$server" "$ebb" demo-target --host 10.231.0.1 --port 8080 &
demo=$!
# `wait` returns when a signal arrives, so the trap runs at once.
wait "$demo" || true
remove
