#!/usr/bin/env bash
# Benchmark matrix: halocline --io-backend uring, halocline --io-backend epoll and
# redis-server, run in alternation over tests x clients x pipeline depth x threads.
# Records requests/s, p50/p99 latency, server CPU time per request, syscalls per request
# and RSS; writes a CSV, a Markdown ratio report and PNG charts.  See README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BH=(python3 "$SCRIPT_DIR/bench_helper.py")
MH=(python3 "$SCRIPT_DIR/matrix_helper.py")

ALL_TESTS="PING_MBULK,SET,GET,INCR,LPUSH,LPOP,SADD,HSET,ZADD,LRANGE_100,MSET"
QUICK_TESTS="PING_MBULK,SET,GET,INCR,LPUSH,HSET,MSET"

usage() {
    cat <<EOF
Usage: $(basename "$0") [--quick] [--tests LIST] [--clients LIST] [--pipelines LIST]
                 [--threads LIST] [--repeat N]

  --quick            smoke-sized matrix, under 3 minutes on 2 CPUs: tests $QUICK_TESTS,
                     50 clients, pipelines 1,16, threads 1,2, 10x fewer requests
  --tests LIST       comma-separated, any of: $ALL_TESTS
                     (case-insensitive; default: all)
  --clients LIST     redis-benchmark -c values (default 1,10,50,200)
  --pipelines LIST   redis-benchmark -P values (default 1,16)
  --threads LIST     halocline --threads values (default 1,2; redis-server is single-threaded)
  --repeat N         run every cell N times (rounds A B C A B C ...); figures are medians
  -h, --help         this help

Every cell (test, clients, pipeline, threads) runs halocline uring, halocline epoll and
redis-server back to back, in that order.

Environment:
  OUT=dir              output directory (default /tmp/halocline-matrix-<timestamp>)
  HALOCLINE=path       halocline binary (default <repo>/target/release/halocline, built with
                       'cargo build --release' unless NO_BUILD=1)
  NO_BUILD=1           do not run cargo
  REDIS_SERVER=path    redis-server binary (default: from PATH)
  REDIS_BENCHMARK=path redis-benchmark binary (default: from PATH)
  REQUESTS_P1=N        requests per run at pipeline 1 (default 200000, --quick 20000)
  REQUESTS_PN=N        requests per run at pipeline > 1 (default 2000000, --quick 200000);
                       runs with 1 client use a quarter of these
  KEYSPACE=100000      redis-benchmark -r
  CPU_CLOCK=stat       'stat': utime+stime from /proc/PID/stat (clock ticks) or
                       'schedstat': per-thread run time in ns from /proc/PID/task/*/schedstat
  SYSCALLS=0|1         count syscalls with perf stat -e raw_syscalls:sys_enter (default 1
                       when perf can)
  CHARTS=0|1           draw charts (default 1; gnuplot makes PNG, without it SVG)
  SERVER_CPU=0         CPU list the servers are pinned to (taskset -c)
  CLIENT_CPU=1         CPU list redis-benchmark is pinned to
  BENCH_TIMEOUT=300    seconds before one redis-benchmark run is abandoned
EOF
}

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ options
QUICK=0
TESTS="" CLIENTS="" PIPELINES="" THREADS="" REPEAT=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1 ;;
        --tests) TESTS=${2:?--tests needs an argument}; shift ;;
        --tests=*) TESTS=${1#*=} ;;
        --clients) CLIENTS=${2:?--clients needs an argument}; shift ;;
        --clients=*) CLIENTS=${1#*=} ;;
        --pipelines) PIPELINES=${2:?--pipelines needs an argument}; shift ;;
        --pipelines=*) PIPELINES=${1#*=} ;;
        --threads) THREADS=${2:?--threads needs an argument}; shift ;;
        --threads=*) THREADS=${1#*=} ;;
        --repeat) REPEAT=${2:?--repeat needs an argument}; shift ;;
        --repeat=*) REPEAT=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
if [[ $QUICK == 1 ]]; then
    : "${TESTS:=$QUICK_TESTS}" "${CLIENTS:=50}"
    : "${REQUESTS_P1:=20000}" "${REQUESTS_PN:=200000}"
fi
: "${TESTS:=$ALL_TESTS}" "${CLIENTS:=1,10,50,200}" "${PIPELINES:=1,16}" "${THREADS:=1,2}"
: "${REQUESTS_P1:=200000}" "${REQUESTS_PN:=2000000}"
TESTS=${TESTS^^}
IFS=, read -ra TEST_LIST <<<"$TESTS"
IFS=, read -ra CLIENT_LIST <<<"$CLIENTS"
IFS=, read -ra PIPELINE_LIST <<<"$PIPELINES"
IFS=, read -ra THREAD_LIST <<<"$THREADS"
for t in "${TEST_LIST[@]}"; do
    [[ ",$ALL_TESTS," == *",$t,"* ]] || die "unknown test '$t' (known: $ALL_TESTS)"
done
for v in "${CLIENT_LIST[@]}" "${PIPELINE_LIST[@]}" "${THREAD_LIST[@]}" "$REPEAT" "$REQUESTS_P1" "$REQUESTS_PN"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive integer"
done

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
KEYSPACE=${KEYSPACE:-100000}
CHARTS=${CHARTS:-1}

# ------------------------------------------------------------------ tools
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH${2:+ ($2)}"; }
need python3
need taskset "util-linux"
need getconf
need timeout "coreutils"

REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-$(command -v redis-benchmark || true)}
[[ -n $REDIS_SERVER && -x $REDIS_SERVER ]] || \
    die "redis-server not found on PATH: the matrix compares against it (install it, e.g. 'apt-get install redis-server', or set REDIS_SERVER=path)"
[[ -n $REDIS_BENCHMARK && -x $REDIS_BENCHMARK ]] || \
    die "redis-benchmark not found on PATH (install redis-tools, or set REDIS_BENCHMARK=path)"
"$REDIS_BENCHMARK" --help 2>&1 | grep -q -- '--csv' || die "$REDIS_BENCHMARK has no --csv option"

for cpu in "$SERVER_CPU" "$CLIENT_CPU"; do
    taskset -c "$cpu" true 2>/dev/null || die "cannot pin to CPU $cpu (taskset -c $cpu failed; set SERVER_CPU/CLIENT_CPU)"
done
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || warn "SERVER_CPU == CLIENT_CPU: servers and client share CPUs"

CLK_TCK=$(getconf CLK_TCK)
CPU_CLOCK=${CPU_CLOCK:-stat}
case $CPU_CLOCK in
    stat) ;;
    schedstat) [[ -r /proc/self/schedstat ]] || die "CPU_CLOCK=schedstat: /proc/PID/schedstat not available" ;;
    *) die "CPU_CLOCK must be stat or schedstat" ;;
esac

if [[ -z ${HALOCLINE:-} ]]; then
    HALOCLINE="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/halocline"
    if [[ ${NO_BUILD:-0} != 1 ]]; then
        need cargo "set NO_BUILD=1 and HALOCLINE=path to skip the build"
        log "building halocline: (cd $REPO_ROOT && cargo build --release)"
        (cd "$REPO_ROOT" && cargo build --release >&2) || die "cargo build --release failed"
    fi
fi
[[ -x $HALOCLINE ]] || die "halocline binary not found or not executable: $HALOCLINE (build it, or set HALOCLINE=path)"

SYSCALLS=${SYSCALLS:-1}
if [[ $SYSCALLS == 1 ]]; then
    if ! command -v perf >/dev/null 2>&1; then
        warn "perf not found: syscalls per request will not be measured"
        SYSCALLS=0
    elif ! perf stat -e raw_syscalls:sys_enter -x, -o /dev/null true >/dev/null 2>&1; then
        warn "perf cannot count raw_syscalls:sys_enter (kernel.perf_event_paranoid / tracefs?): syscalls not measured"
        SYSCALLS=0
    fi
fi
if [[ $CHARTS == 1 ]] && ! command -v gnuplot >/dev/null 2>&1; then
    warn "gnuplot not found (apt-get install gnuplot-nox): charts will be SVG, not PNG"
fi

OUT=${OUT:-/tmp/halocline-matrix-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" "$OUT/data"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.csv
rm -f "$RESULTS"

# ------------------------------------------------------------------ servers
declare -A PID=() PORT=() UNSUPPORTED=()
PERF_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $PERF_PID ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
    local id i
    for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}" 2>/dev/null || true; done
    for id in "${!PID[@]}"; do
        for i in $(seq 50); do kill -0 "${PID[$id]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${PID[$id]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server ID KIND THREADS   (KIND = uring | epoll | redis)
start_server() {
    local id=$1 kind=$2 threads=$3 port dir
    port=$("${BH[@]}" freeport)
    dir=$OUT/data/$id
    rm -rf "$dir"; mkdir -p "$dir"
    if [[ $kind == redis ]]; then
        (cd "$dir" && exec taskset -c "$SERVER_CPU" "$REDIS_SERVER" \
            --port "$port" --save '' --appendonly no) >"$OUT/logs/server-$id.log" 2>&1 &
    else
        (cd "$dir" && exec taskset -c "$SERVER_CPU" "$HALOCLINE" \
            --port "$port" --threads "$threads" --io-backend "$kind") >"$OUT/logs/server-$id.log" 2>&1 &
    fi
    PID[$id]=$!
    PORT[$id]=$port
    if ! "${BH[@]}" wait-ready "$port" "${PID[$id]}" 20; then
        tail -n 20 "$OUT/logs/server-$id.log" >&2 || true
        die "$id did not start; log: $OUT/logs/server-$id.log"
    fi
    if [[ $kind != redis ]]; then
        local be
        be=$("${BH[@]}" cmd "$port" INFO server 2>/dev/null | sed -n 's/^io_backend:\(.*\)$/\1/p' | tr -d '\r')
        [[ $be == "$kind" || $be == io_$kind ]] || warn "$id: INFO server says io_backend:$be, expected $kind"
    fi
    log "started $id: $kind threads=$threads pid=${PID[$id]} port=$port cpu=$SERVER_CPU"
    # one try of each test's command: an error reply marks the test unsupported on this server
    local test status reply
    while read -r test status reply; do
        case $status in
            ok) ;;
            unsupported)
                UNSUPPORTED[$id,$test]=1
                log "$id: $test unsupported ($reply): its cells will read n/a (unsupported)" ;;
            *) warn "$id: $test probe replied '$reply' (unexpected; figures for $test are suspect)" ;;
        esac
    done < <("${MH[@]}" probe "$port" "$TESTS")
}

cpu_ns() {
    if [[ $CPU_CLOCK == schedstat ]]; then
        local f t total=0
        for f in /proc/"$1"/task/*/schedstat; do
            read -r t _ 2>/dev/null <"$f" || continue
            total=$((total + t))
        done
        echo "$total"
    else
        local s
        s=$(<"/proc/$1/stat") || die "process $1 is gone"
        s=${s##*) }
        local -a f
        read -ra f <<<"$s"
        echo $(((f[11] + f[12]) * 1000000000 / CLK_TCK))
    fi
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

alive_or_die() {
    kill -0 "${PID[$1]}" 2>/dev/null || {
        tail -n 20 "$OUT/logs/server-$1.log" >&2 || true
        die "server $1 (pid ${PID[$1]}) died; log: $OUT/logs/server-$1.log"
    }
}

COARSE=0
# run_one ROUND ID KIND ROUND_THREADS TEST CLIENTS PIPELINE REQUESTS
run_one() {
    local round=$1 id=$2 kind=$3 rthreads=$4 test=$5 c=$6 p=$7 n=$8
    local pid=${PID[$id]} port=${PORT[$id]} sthreads=$4
    [[ $kind == redis ]] && sthreads=1
    local common=("${MH[@]}" record "$RESULTS" round="$round" server="$kind" round_threads="$rthreads"
        server_threads="$sthreads" test="$test" clients="$c" pipeline="$p" requests="$n")
    if [[ -n ${UNSUPPORTED[$id,$test]:-} ]]; then
        "${common[@]}" status=unsupported note="error reply to the probe"
        return
    fi
    alive_or_die "$id"
    [[ $test == LRANGE_100 ]] && "${MH[@]}" prefill-list "$port" >/dev/null 2>&1
    local tag="$id-$test-c$c-P$p-r$round"
    local csvf=$OUT/logs/$tag.csv errf=$OUT/logs/$tag.err perff="" t0 t1 brc=0
    local -a targs
    mapfile -t targs < <("${MH[@]}" bench-args "$test")
    if [[ $SYSCALLS == 1 ]]; then
        perff=$OUT/logs/$tag.perf
        perf stat -e raw_syscalls:sys_enter -x, -o "$perff" -p "$pid" 2>"$perff.err" &
        PERF_PID=$!
        sleep 0.2                   # let perf attach before the load starts
    fi
    t0=$(cpu_ns "$pid")
    timeout "$BENCH_TIMEOUT" taskset -c "$CLIENT_CPU" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" \
        -c "$c" -P "$p" -n "$n" -r "$KEYSPACE" -q --csv "${targs[@]}" >"$csvf" 2>"$errf" || brc=$?
    t1=$(cpu_ns "$pid")
    if [[ -n $PERF_PID ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=""
    fi
    alive_or_die "$id"
    if [[ $CPU_CLOCK == stat ]] && (((t1 - t0) * CLK_TCK / 1000000000 < 50)); then
        COARSE=$((COARSE + 1))
    fi
    "${common[@]}" status=run rc="$brc" bench="$csvf" err="$errf" perf="$perff" \
        cpu_ns=$((t1 - t0)) rss_kb="$(rss_kb "$pid")"
}

# ------------------------------------------------------------------ run
ncells=$(( ${#TEST_LIST[@]} * ${#CLIENT_LIST[@]} * ${#PIPELINE_LIST[@]} * ${#THREAD_LIST[@]} ))
log "output: $OUT"
log "matrix: tests=$TESTS clients=$CLIENTS pipelines=$PIPELINES threads=$THREADS repeat=$REPEAT ($ncells cells x 3 servers)"
log "requests: $REQUESTS_P1 at -P 1, $REQUESTS_PN at -P >1 (a quarter with 1 client); cpu_clock=$CPU_CLOCK syscalls=$SYSCALLS"
{
    echo "date: $(date -Is)"
    echo "host: $(uname -a)"
    echo "cpus: $(nproc)  server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU clk_tck=$CLK_TCK"
    echo "redis-server: $REDIS_SERVER $("$REDIS_SERVER" --version 2>/dev/null || true)"
    echo "redis-benchmark: $REDIS_BENCHMARK $("$REDIS_BENCHMARK" --version 2>/dev/null || true)"
    echo "halocline: $HALOCLINE"
    echo "halocline git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$REPO_ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (dirty)')"
    echo "quick=$QUICK tests=$TESTS clients=$CLIENTS pipelines=$PIPELINES threads=$THREADS repeat=$REPEAT"
    echo "requests_p1=$REQUESTS_P1 requests_pn=$REQUESTS_PN keyspace=$KEYSPACE cpu_clock=$CPU_CLOCK syscalls=$SYSCALLS"
    echo "loadavg: $(cat /proc/loadavg)"
} >"$OUT/environment.txt"

# All servers run for the whole matrix (idle ones cost nothing measurable), so each cell can
# alternate between them without restarts.
start_server redis redis 1
for t in "${THREAD_LIST[@]}"; do
    start_server "uring-t$t" uring "$t"
    start_server "epoll-t$t" epoll "$t"
done

for t in "${THREAD_LIST[@]}"; do
    for p in "${PIPELINE_LIST[@]}"; do
        for c in "${CLIENT_LIST[@]}"; do
            if [[ $p == 1 ]]; then n=$REQUESTS_P1; else n=$REQUESTS_PN; fi
            [[ $c == 1 ]] && n=$((n / 4))
            for test in "${TEST_LIST[@]}"; do
                for ((round = 1; round <= REPEAT; round++)); do
                    run_one "$round" "uring-t$t" uring "$t" "$test" "$c" "$p" "$n"
                    run_one "$round" "epoll-t$t" epoll "$t" "$test" "$c" "$p" "$n"
                    run_one "$round" redis redis "$t" "$test" "$c" "$p" "$n"
                done
            done
        done
    done
done

# ------------------------------------------------------------------ report
if ((COARSE > 0)); then
    warn "$COARSE runs used fewer than 50 CPU ticks ($((1000 / CLK_TCK)) ms each): their CPU/req figures carry more than 2% rounding error (use more requests or CPU_CLOCK=schedstat)"
fi
"${MH[@]}" report "$OUT" | tee "$OUT/report.md"
if [[ $CHARTS == 1 ]]; then
    "${MH[@]}" charts "$OUT" >"$OUT/charts.txt" || warn "chart drawing failed"
    log "charts: $(tr '\n' ' ' <"$OUT/charts.txt")"
fi
echo
echo "results: $RESULTS  report: $OUT/report.md  charts: $OUT/charts/  logs: $OUT/logs/"
