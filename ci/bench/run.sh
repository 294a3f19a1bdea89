#!/usr/bin/env bash
# The benchmark: one command that builds Ebb in release mode (this tree, and the baseline
# revision beside it), installs Chaos Toolkit in a venv under its work dir, measures start-up,
# runner overhead, journal cost and rollback latency at scale side by side, collects the other
# benchmarks (JUnit, probes, crash torture), and writes reports/bench.json and reports/bench.md.
# Measures, asserts nothing; not part of .ci/run.
# Usage: ci/bench/run.sh [--quick] [--compare-only] [--rounds N]
#   --quick: fewer repeats, 100 instead of 1,000 faults
#   --compare-only: only the before/after/Chaos Toolkit table (no start-up, journal, probes, torture)
#   --rounds N: the runner-overhead comparison N times (the table shows the first), then each
#     round's ratios and how often each target was met
# EBB_BASELINE_REV (default 3e90181, main before issue 20's speed work) is built from `git archive`
# into $EBB_BENCH_DIR/baseline (default .build-bench/, kept between runs) with its own scratch path;
# EBB_BASELINE_REV=none skips it.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/packages.sh
ensure_packages "${EBB_BUILD_PACKAGES[@]}" time python3-venv
# As ci/package.sh ships it: the Swift runtime linked in, so start-up pays no dynamic relocations of it.
swift build -c release --static-swift-stdlib --product ebb -q
export EBB_RELEASE_BIN="$(swift build -c release --static-swift-stdlib --show-bin-path)/ebb"
export EBB_BASELINE_REV="${EBB_BASELINE_REV:-3e90181}"
if [ "$EBB_BASELINE_REV" != none ]; then
    # The default baseline still linked FoundationNetworking (dropped in 5c0a221), whose static
    # library needs libcurl's.
    ensure_packages libcurl4-openssl-dev
    bench_dir="$(realpath -m "${EBB_BENCH_DIR:-.build-bench}")"
    baseline="$bench_dir/baseline"
    commit="$(git rev-parse "$EBB_BASELINE_REV^{commit}")"
    if [ "$(cat "$baseline/.revision" 2>/dev/null)" != "$commit" ]; then
        rm -rf "$baseline"
        mkdir -p "$baseline"
        git archive "$commit" | tar -x -C "$baseline"
        echo "$commit" > "$baseline/.revision"
    fi
    (cd "$baseline" && swift build -c release --static-swift-stdlib --product ebb --scratch-path .build-baseline -q)
    export EBB_BASELINE_BIN="$baseline/.build-baseline/release/ebb"
fi
exec /usr/bin/python3 ci/bench/bench.py "$@"
