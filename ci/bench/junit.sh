#!/usr/bin/env bash
# Benchmark: write and validate a JUnit report of 100,000 testcases with a release build, for
# both flavors; prints wall time and peak RSS of each step. Measures, asserts nothing.
# Usage: ci/bench/junit.sh [TESTCASES]
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}" time

count=${1:-100000}
swift build -c release --static-swift-stdlib --product ebb -q
ebb="$(swift build -c release --static-swift-stdlib --show-bin-path)/ebb"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '%-10s %-9s %10s %12s %10s\n' flavor step seconds "peak RSS KiB" "file MiB"
for flavor in portable ant; do
    file="$out/$flavor.xml"
    /usr/bin/time -f "%e %M" -o "$out/write.time" "$ebb" report synthesize --testcases "$count" --output "$file" --flavor "$flavor"
    /usr/bin/time -f "%e %M" -o "$out/validate.time" "$ebb" report validate "$file" --flavor "$flavor" >/dev/null
    size=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", b / 1048576 }')
    read -r seconds rss < "$out/write.time"
    printf '%-10s %-9s %10s %12s %10s\n' "$flavor" write "$seconds" "$rss" "$size"
    read -r seconds rss < "$out/validate.time"
    printf '%-10s %-9s %10s %12s %10s\n' "$flavor" validate "$seconds" "$rss" "$size"
done
echo "($count testcases, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ))"
