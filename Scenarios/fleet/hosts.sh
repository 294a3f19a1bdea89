#!/bin/sh
# The hosts of fleet.yaml, run as its fixture: COUNT network namespaces (PREFIX-h1, ...), each
# a "host" with its own address NET.11, NET.12, ... (addresses that exist only inside the
# namespaces), Debian's sshd and Ebb's demo target on port 8080; plus PREFIX-cli, the
# namespace Ebb's ssh connects from, whose bridge joins them. Keys and known_hosts are made
# fresh in DIR. It runs until Ebb stops the fixture, then ends its servers (by pid) and
# removes the namespaces and DIR, and with them everything a fault could have left.
# Usage: hosts.sh PREFIX COUNT DIR NET   e.g. hosts.sh ebbfleet 3 /run/ebbfleet 10.233.0
set -eu
prefix=$1 count=$2 dir=$3 net=$4
client=$prefix-cli
ebb=${EBB_EXECUTABLE:?run me as a fixture of ebb}
servers=""

namespaces() {
    echo "$client"
    i=1
    while [ "$i" -le "$count" ]; do echo "$prefix-h$i"; i=$((i + 1)); done
}
remove() {
    for pid in $servers; do kill "$pid" 2>/dev/null || true; done
    for pid in $servers; do wait "$pid" 2>/dev/null || true; done
    # What the servers started (ssh sessions, Ebb's agents and guardians on the hosts) lives
    # in the namespaces this script made: end it by pid, or the namespaces would outlive it.
    for namespace in $(namespaces); do
        pids=$(ip netns pids "$namespace" 2>/dev/null || true)
        [ -z "$pids" ] || kill $pids 2>/dev/null || true
    done
    for namespace in $(namespaces); do ip netns delete "$namespace" 2>/dev/null || true; done
    rm -rf "$dir"
}
# Hosts that still have processes belong to another run of this suite: leave them alone.
for namespace in $(namespaces); do
    if [ -n "$(ip netns pids "$namespace" 2>/dev/null)" ]; then
        echo "fleet: $namespace is in use (pids $(ip netns pids "$namespace" | tr '\n' ' ')); is another run of this suite going?" >&2
        exit 1
    fi
done
trap 'remove; exit 0' TERM INT
trap remove EXIT
remove  # idle namespaces are what a SIGKILLed run left behind: ours to replace

mkdir -p /run/sshd "$dir"
chmod 700 "$dir"
ssh-keygen -q -t ed25519 -N '' -C ebb-fleet -f "$dir/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -C ebb-fleet-host -f "$dir/host_key"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
: > "$dir/known_hosts"

ip netns add "$client"
ip -n "$client" link set lo up
ip -n "$client" link add br0 type bridge
ip -n "$client" addr add "$net.1/24" dev br0
ip -n "$client" link set br0 up
i=1
while [ "$i" -le "$count" ]; do
    host=$prefix-h$i
    address=$net.$((10 + i))
    ip netns add "$host"
    ip link add "$prefix-v$i" netns "$client" type veth peer name eth0 netns "$host"
    ip -n "$client" link set "$prefix-v$i" master br0 up
    ip -n "$host" addr add "$address/24" dev eth0
    ip -n "$host" link set eth0 up
    ip -n "$host" link set lo up
    echo "$address $(cut -d' ' -f1,2 "$dir/host_key.pub")" >> "$dir/known_hosts"
    ip netns exec "$host" /usr/sbin/sshd -D -e -f /dev/null -o ListenAddress="$address" -o HostKey="$dir/host_key" \
        -o AuthorizedKeysFile="$dir/authorized_keys" -o StrictModes=no -o UsePAM=no -o PasswordAuthentication=no \
        -o KbdInteractiveAuthentication=no -o PermitRootLogin=prohibit-password -o ClientAliveInterval=1 -o ClientAliveCountMax=3 -o MaxStartups=200 -o MaxSessions=200 \
        -o PidFile=none 2>> "$dir/sshd-$i.log" &
    servers="$servers $!"
    ip netns exec "$host" "$ebb" demo-target --host "$address" --port 8080 &
    servers="$servers $!"
    i=$((i + 1))
done
# Ready when every sshd and demo target listens.
i=1
while [ "$i" -le "$count" ]; do
    until [ "$(ip netns exec "$prefix-h$i" ss -Hltn | grep -c -e ':22 ' -e ':8080 ')" -ge 2 ]; do sleep 0.05; done
    i=$((i + 1))
done
touch "$dir/ready"
# `wait` returns when a signal arrives, so the trap runs at once.
wait
