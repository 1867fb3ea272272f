#!/usr/bin/env bash
# What --threads 2 costs over --threads 1 (both reactors pinned to one CPU)
# when no request crosses shards, beside what it costs as built.
#
# Builds a second binary with routing-off.patch applied (a single-key
# command is served by the reactor that read it, wherever its key hashes:
# wrong for a real server, right for measuring), then runs compare.sh's
# threads mode on both binaries. The patched run's ratio is the floor that
# two reactors sharing one CPU cost with no cross-shard traffic at all; the
# difference between the two runs is what the cross-shard path costs.
# Multi-key commands still route, so the tests are the single-key ones.
#
#   redis-benchmark-scripts/routing-floor.sh        # ~10 min (a build, 2 runs)
#   TESTS=get,set REPEAT=1 redis-benchmark-scripts/routing-floor.sh
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
TESTS=${TESTS:-ping,get,set,incr}
REPEAT=${REPEAT:-3}
OUT=${OUT:-/tmp/halocline-floor-$(date +%Y%m%d-%H%M%S)}
WORK=$(mktemp -d /tmp/halocline-floor-build.XXXXXX)
mkdir -p "$OUT"

cleanup() {
    git -C "$REPO_ROOT" worktree remove --force "$WORK/src" >/dev/null 2>&1 || true
    git -C "$REPO_ROOT" worktree prune >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$REPO_ROOT" && cargo build --release --bin halocline)
git -C "$REPO_ROOT" worktree add --detach "$WORK/src" HEAD >/dev/null
git -C "$WORK/src" apply "$SCRIPT_DIR/routing-off.patch"
(cd "$WORK/src" && CARGO_TARGET_DIR="$WORK/target" cargo build --release --bin halocline)

for variant in as-built routing-off; do
    bin="$REPO_ROOT/target/release/halocline"
    [[ $variant == routing-off ]] && bin="$WORK/target/release/halocline"
    HALOCLINE=$bin OUT="$OUT/$variant" "$SCRIPT_DIR/compare.sh" \
        --mode threads --tests "$TESTS" --repeat "$REPEAT"
done
echo "reports: $OUT/as-built/report.md $OUT/routing-off/report.md"
