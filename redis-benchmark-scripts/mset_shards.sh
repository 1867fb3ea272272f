#!/usr/bin/env bash
# Server CPU per MSET of 10 keys: spread (key:NNNNNNNNNNNN, as -t mset
# names them) against all ten under one hash tag ({t}:NNNNNNNNNNNN), at
# --threads 1 and --threads 2 (both reactors on CPU 0), redis-benchmark on
# CPU 1. Both kinds are 16 bytes long: longer keys leave the entry for the
# heap, which would make the tagged run dearer for a reason of its own.
# Issue 3's MSET ratio, read either way: multi-shard against --threads 1,
# or against one shard of the same server.
# LOCKS_OFF=1 adds a row: spread keys at --threads 2 on a second build with
# locks-off.patch (the fan-out without its transaction: no locks, no
# barrier; not atomic, for measuring what the atomicity costs).
#   redis-benchmark-scripts/mset_shards.sh            # ~1 min, 2 rounds
#   ROUNDS=3 HALOCLINE=path redis-benchmark-scripts/mset_shards.sh
#   LOCKS_OFF=1 redis-benchmark-scripts/mset_shards.sh  # + a build, ~4 min
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
B=${HALOCLINE:-$REPO_ROOT/target/release/halocline}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-6411}
B_OFF=
if [ "${LOCKS_OFF:-0}" = 1 ]; then
    WORK=$(mktemp -d /tmp/halocline-locks-off.XXXXXX)
    cleanup() {
        git -C "$REPO_ROOT" worktree remove --force "$WORK/src" >/dev/null 2>&1 || true
        git -C "$REPO_ROOT" worktree prune >/dev/null 2>&1 || true
        rm -rf "$WORK"
    }
    trap cleanup EXIT
    git -C "$REPO_ROOT" worktree add --detach "$WORK/src" HEAD >/dev/null
    git -C "$WORK/src" apply "$SCRIPT_DIR/locks-off.patch"
    (cd "$WORK/src" && CARGO_TARGET_DIR="$WORK/target" cargo build --release --bin halocline) >&2
    B_OFF=$WORK/target/release/halocline
fi
spread=(MSET)
tagged=(MSET)
for _ in $(seq 10); do
    spread+=("key:__rand_int__" xxx)
    tagged+=("{t}:__rand_int__" xxx)
done
run() { # threads pipeline requests spread|tagged [binary]
    taskset -c 0 "${5:-$B}" --port "$PORT" --threads "$1" --save "" >/dev/null 2>&1 &
    local pid=$! u0 s0 u1 s1 rps
    for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    if [ "$4" = spread ]; then
        rps=$(taskset -c 1 redis-benchmark -p "$PORT" -c 50 -r 100000 -n "$3" -P "$2" -q "${spread[@]}")
    else
        rps=$(taskset -c 1 redis-benchmark -p "$PORT" -c 50 -r 100000 -n "$3" -P "$2" -q "${tagged[@]}")
    fi
    rps=$(echo "$rps" | tr '\r' '\n' | grep -a 'per second' | awk '{print $(NF-5)}')
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local kind=$4
    [ -n "${5:-}" ] && kind="$4, locks off"
    python3 -c "t=$(getconf CLK_TCK); print(f'| $kind | $1 | $2 | {($u1+$s1-$u0-$s0)/t*1e6/$3:.3f} | $rps |')"
}
echo "| keys | threads | -P | server CPU us/MSET | MSET/s |"
echo "|---|---|---|---|---|"
for _ in $(seq "$ROUNDS"); do
    for p in 1 16; do
        n=100000; [ "$p" = 16 ] && n=1000000
        for th in 1 2; do
            for kind in spread tagged; do run "$th" "$p" "$n" "$kind"; done
        done
        if [ -n "$B_OFF" ]; then run 2 "$p" "$n" spread "$B_OFF"; fi
    done
done
