#!/usr/bin/env bash
# Server CPU per request with and without an attached replica, halocline and
# redis-server in one run, alternating: the cost of the replication stream.
#
#   redis-benchmark-scripts/replica-overhead.sh [THREADS] [PIPELINE] [N] [TEST]
#
# The master is pinned to CPU 0; redis-benchmark and the replica (a
# redis-server with --replicaof) share CPU 1. Server CPU = utime+stime from
# /proc/PID/stat over the benchmark, divided by requests. Needs redis-server,
# redis-cli, redis-benchmark and a built target/release/halocline.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-1}; P=${2:-16}; N=${3:-1000000}; T=${4:-set}
BIN=${BIN:-target/release/halocline}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_ping() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

# run SERVER(halocline|redis) MODE(without|with)
run() {
    local server=$1 mode=$2 port rport pid rpid=
    port=$((20000 + RANDOM % 10000)); rport=$((port + 1))
    if [ "$server" = halocline ]; then
        taskset -c 0 "$BIN" --port "$port" --threads "$THREADS" >/dev/null 2>&1 &
    else
        (cd "$DIR" && exec taskset -c 0 redis-server --port "$port" --save '' --appendonly no \
            --repl-diskless-sync-delay 0 >/dev/null 2>&1) &
    fi
    pid=$!
    wait_ping "$port"
    if [ "$mode" = with ]; then
        (cd "$DIR" && exec taskset -c 1 redis-server --port "$rport" --save '' --appendonly no \
            --replicaof 127.0.0.1 "$port" >/dev/null 2>&1) &
        rpid=$!
        wait_ping "$rport"
        for _ in $(seq 200); do
            redis-cli -p "$rport" info replication | grep -q 'master_link_status:up' && break
            sleep 0.05
        done
    fi
    local t0 t1 s0 s1
    t0=$(cpu_ticks "$pid"); s0=$(date +%s.%N)
    taskset -c 1 redis-benchmark -p "$port" -t "$T" -c 50 -r 100000 -n "$N" -P "$P" -q >/dev/null 2>&1
    t1=$(cpu_ticks "$pid"); s1=$(date +%s.%N)
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c "
hz = $(getconf CLK_TCK); n = $N
cpu = ($t1 - $t0) / hz * 1e6 / n
print(f'| $server | $mode | {cpu:.3f} | {n / ($s1 - $s0):,.0f} |')"
}

echo "$T -P $P -n $N, halocline --threads $THREADS"
echo
echo "| server | replica | server CPU µs/req | requests/s |"
echo "|---|---|---:|---:|"
for server in halocline redis; do
    run "$server" without
    run "$server" with
done
