#!/usr/bin/env bash
# Compare halocline against redis-server: throughput, server CPU time per request,
# syscalls per request, reactor-thread overhead and memory.  See README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
HELPER=(python3 "$SCRIPT_DIR/bench_helper.py")

usage() {
    cat <<EOF
Usage: $(basename "$0") [--quick] [--mode MODES] [--tests LIST] [--pipelines LIST] [--repeat N]

  --quick          -n scaled down 10x (whole run takes about a minute)
  --mode MODES     comma-separated subset of: compare,threads,memory  (default: all three)
                     compare  redis-server vs halocline --threads 1
                     threads  halocline --threads 2 vs --threads 1, both pinned to one CPU
                     memory   VmRSS after loading ~865k 16-byte keys
  --tests LIST     comma-separated redis-benchmark tests (default: ping,set,get,incr,mset);
                   also: lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,
                   lrange_100,lrange_300,lrange_600 (issue 4's data-type set: --tests types);
                   eval: EVAL of a script that SETs one random key
                   The pops take what the pushes before them in the list left; an
                   lrange test includes redis-benchmark's own n LPUSHes that fill its list
  --pipelines LIST comma-separated pipeline depths (default: 1,16)
  --repeat N       run every (test, pipeline) pair N times, report medians (default 1)
  -h, --help       this help

Environment:
  OUT=dir              output directory (default /tmp/halocline-bench-<timestamp>)
  HALOCLINE=path       halocline binary (default: <repo>/target/release/halocline, built
                       with 'cargo build --release' unless NO_BUILD=1)
  NO_BUILD=1           do not run cargo
  REDIS_SERVER=path    redis-server binary (default: from PATH)
  REDIS_BENCHMARK=path redis-benchmark binary (default: from PATH)
  CPU_CLOCK=stat       server CPU source: 'stat' = utime+stime from /proc/PID/stat (clock
                       ticks, coarse for short runs) or 'schedstat' = per-thread run time in ns
  SYSCALLS=0|1         count syscalls with perf for the -P 1 runs (default 1 if perf works)
  SERVER_CPU=0         CPU the servers are pinned to (taskset -c)
  CLIENT_CPU=1         CPU redis-benchmark is pinned to
  CLIENTS=50           redis-benchmark -c
  BENCH_TIMEOUT=600    seconds before a single redis-benchmark run is abandoned
EOF
}

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ options
QUICK=0
MODES="compare,threads,memory"
TESTS="ping,set,get,incr,mset"
REPEAT=${REPEAT:-1}
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1 ;;
        --mode|--modes) MODES=${2:?--mode needs an argument}; shift ;;
        --mode=*|--modes=*) MODES=${1#*=} ;;
        --tests) TESTS=${2:?--tests needs an argument}; shift ;;
        --tests=*) TESTS=${1#*=} ;;
        --pipelines) PIPELINE_LIST=${2:?--pipelines needs an argument}; shift ;;
        --pipelines=*) PIPELINE_LIST=${1#*=} ;;
        --repeat) REPEAT=${2:?--repeat needs an argument}; shift ;;
        --repeat=*) REPEAT=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
IFS=, read -ra MODE_LIST <<<"$MODES"
TYPE_TESTS="lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_300,lrange_600"
[[ $TESTS == types ]] && TESTS=$TYPE_TESTS
IFS=, read -ra TEST_LIST <<<"$TESTS"
for m in "${MODE_LIST[@]}"; do
    [[ $m =~ ^(compare|threads|memory)$ ]] || die "unknown mode '$m' (compare, threads, memory)"
done
for t in "${TEST_LIST[@]}"; do
    [[ ,ping,set,get,incr,mset,eval,$TYPE_TESTS, == *",$t,"* ]] ||
        die "unknown test '$t' (ping, set, get, incr, mset, eval, $TYPE_TESTS)"
done
has_mode() { [[ ",$MODES," == *",$1,"* ]]; }

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CLIENTS=${CLIENTS:-50}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600}
KEYSPACE=100000
SCALE=1; [[ $QUICK == 1 ]] && SCALE=10
N_P1=$((200000 / SCALE))
N_P16=$((2000000 / SCALE))
N_MEM=$((2000000 / SCALE))
IFS=, read -ra PIPELINES <<<"${PIPELINE_LIST:-1,16}"
for p in "${PIPELINES[@]}"; do
    [[ $p =~ ^[1-9][0-9]*$ ]] || die "bad pipeline depth '$p'"
done
n_for_pipeline() { if [[ $1 == 1 ]]; then echo "$N_P1"; else echo "$N_P16"; fi; }

# ------------------------------------------------------------------ tools
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH${2:+ ($2)}"; }
need python3
need taskset "util-linux"
need getconf
need timeout "coreutils"

REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-$(command -v redis-benchmark || true)}
[[ -n $REDIS_SERVER && -x $REDIS_SERVER ]] || \
    die "redis-server not found on PATH (install redis, e.g. 'apt-get install redis-server', or set REDIS_SERVER=path)"
[[ -n $REDIS_BENCHMARK && -x $REDIS_BENCHMARK ]] || \
    die "redis-benchmark not found on PATH (install redis-tools, or set REDIS_BENCHMARK=path)"

for cpu in "$SERVER_CPU" "$CLIENT_CPU"; do
    taskset -c "$cpu" true 2>/dev/null || die "cannot pin to CPU $cpu (taskset -c $cpu failed; set SERVER_CPU/CLIENT_CPU)"
done
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || warn "SERVER_CPU == CLIENT_CPU: server and client share one CPU"

CLK_TCK=$(getconf CLK_TCK)
CPU_CLOCK=${CPU_CLOCK:-stat}
case $CPU_CLOCK in
    stat) ;;
    schedstat)
        [[ -r /proc/self/schedstat ]] || die "CPU_CLOCK=schedstat: /proc/PID/schedstat not available (CONFIG_SCHED_INFO)" ;;
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
        warn "perf cannot count raw_syscalls:sys_enter (permissions? kernel.perf_event_paranoid / tracefs): syscalls not measured"
        SYSCALLS=0
    fi
fi

OUT=${OUT:-/tmp/halocline-bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/logs" "$OUT/data"
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.csv
MEMORY=$OUT/memory.csv
CSV_HEADER="server,threads,test,pipeline,requests,rps,cpu_us_per_req,syscalls_per_req"
echo "$CSV_HEADER" >"$RESULTS"
rm -f "$MEMORY" "$OUT/compare.csv" "$OUT/threads.csv"
MODE_CSV=""   # per-mode copy of the rows (compare.csv / threads.csv), used for the paired ratios

# ------------------------------------------------------------------ server management
declare -A PID=() PORT=()
COARSE=0
PERF_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $PERF_PID ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
    local id
    for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}" 2>/dev/null || true; done
    for id in "${!PID[@]}"; do
        local i
        for i in $(seq 50); do kill -0 "${PID[$id]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${PID[$id]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server ID KIND THREADS   (KIND = redis | halocline)
start_server() {
    local id=$1 kind=$2 threads=$3 port dir
    port=$("${HELPER[@]}" freeport)
    dir=$OUT/data/$id
    rm -rf "$dir"; mkdir -p "$dir"      # fresh cwd: no dump.rdb gets loaded
    if [[ $kind == redis ]]; then
        (cd "$dir" && exec taskset -c "$SERVER_CPU" "$REDIS_SERVER" \
            --port "$port" --save '' --appendonly no) >"$OUT/logs/server-$id.log" 2>&1 &
    else
        (cd "$dir" && exec taskset -c "$SERVER_CPU" "$HALOCLINE" \
            --port "$port" --threads "$threads") >"$OUT/logs/server-$id.log" 2>&1 &
    fi
    PID[$id]=$!
    PORT[$id]=$port
    if ! "${HELPER[@]}" wait-ready "$port" "${PID[$id]}" 20; then
        tail -n 20 "$OUT/logs/server-$id.log" >&2 || true
        die "$kind ($id) did not start; log: $OUT/logs/server-$id.log"
    fi
    log "started $id: $kind threads=$threads pid=${PID[$id]} port=$port cpu=$SERVER_CPU"
    smoke_test "$id"
}

stop_server() {
    local id=$1 pid=${PID[$1]:-} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$id]" "PORT[$id]"
}

# quick correctness check so that a benchmark against a server answering errors is noticed
smoke_test() {
    local id=$1 port=${PORT[$1]} got
    check() {
        local want=$1; shift
        got=$("${HELPER[@]}" cmd "$port" "$@" 2>&1) || got="<connection error>"
        [[ $got == "$want" ]] || warn "$id: '$*' returned '$got', expected '$want' (results for this command are suspect)"
    }
    check "+PONG" PING
    check "+OK" SET __bench_smoke v1
    check "v1" GET __bench_smoke
    check ":1" INCR __bench_smoke_ctr
    check "+OK" MSET __bench_smoke_a 1 __bench_smoke_b 2
    check "1" MGET __bench_smoke_a
    "${HELPER[@]}" cmd "$port" DEL __bench_smoke __bench_smoke_ctr __bench_smoke_a __bench_smoke_b >/dev/null 2>&1 || true
}

# Server CPU time consumed so far, in nanoseconds, all threads.
#  stat:      utime + stime (fields 14, 15 of /proc/PID/stat), clock ticks (1/CLK_TCK s);
#             includes threads that already exited.
#  schedstat: sum of /proc/PID/task/*/schedstat run time, nanosecond resolution.
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
        s=${s##*) }                 # drop "pid (comm) "; f[0] is field 3
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

# run_bench ID KIND THREADS TEST PIPELINE REQUESTS REP
run_bench() {
    local id=$1 kind=$2 threads=$3 test=$4 p=$5 n=$6 rep=$7
    local pid=${PID[$id]} port=${PORT[$id]}
    local tflag=$test
    [[ $test == ping ]] && tflag=ping_mbulk
    # `eval`: a script that SETs its one key (random, like the set test).
    local -a targs=(-t "$tflag")
    if [[ $test == eval ]]; then
        targs=(eval "return redis.call('set', KEYS[1], ARGV[1])" 1 "key:__rand_int__" xxx)
        tflag=""
    fi
    local tag="$id-$test-P$p-r$rep"
    local csvf=$OUT/logs/$tag.csv perff=$OUT/logs/$tag.perf
    local sys="" count="" t0 t1 rps cpu brc=0

    alive_or_die "$id"
    if [[ $SYSCALLS == 1 && $p == 1 ]]; then
        perf stat -e raw_syscalls:sys_enter -x, -o "$perff" -p "$pid" 2>"$OUT/logs/$tag.perf.err" &
        PERF_PID=$!
        sleep 0.3                   # let perf attach before the load starts
    fi
    t0=$(cpu_ns "$pid")
    timeout "$BENCH_TIMEOUT" taskset -c "$CLIENT_CPU" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" \
        -c "$CLIENTS" -r "$KEYSPACE" -P "$p" -n "$n" -q --csv "${targs[@]}" \
        >"$csvf" 2>"$OUT/logs/$tag.err" || brc=$?
    t1=$(cpu_ns "$pid")
    if [[ -n $PERF_PID ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=""
        count=$("${HELPER[@]}" parse-perf "$perff" 2>/dev/null || true)
        [[ -n $count ]] || warn "$tag: could not read perf syscall count ($perff)"
    fi
    alive_or_die "$id"

    if [[ $brc != 0 ]] || ! rps=$("${HELPER[@]}" parse-rps "$csvf" ${tflag:+"$tflag"} 2>/dev/null); then
        warn "$tag: redis-benchmark failed (exit $brc); see $csvf and $OUT/logs/$tag.err"
        rps=""
    fi
    cpu=$(awk -v d=$((t1 - t0)) -v n="$n" 'BEGIN { printf "%.4f", d / 1000 / n }')
    [[ -n $count ]] && sys=$(awk -v c="$count" -v n="$n" 'BEGIN { printf "%.3f", c / n }')
    if [[ $CPU_CLOCK == stat ]] && (((t1 - t0) * CLK_TCK / 1000000000 < 50)); then
        COARSE=$((COARSE + 1))     # fewer than 50 ticks: more than 2% granularity error
    fi
    echo "$kind,$threads,$test,$p,$n,$rps,$cpu,$sys" | tee -a "$MODE_CSV" >>"$RESULTS"
    log "$(printf '%-10s t=%s %-5s P=%-2s n=%-8s rps=%-12s cpu_us/req=%-8s syscalls/req=%s' \
        "$kind" "$threads" "$test" "$p" "$n" "${rps:-FAIL}" "$cpu" "${sys:--}")"
}

# run_pair IDA KINDA THREADSA IDB KINDB THREADSB: every test at every pipeline depth,
# both servers back-to-back (order alternates between repetitions)
run_pair() {
    local -a A=("$1" "$2" "$3") B=("$4" "$5" "$6")
    local p test rep n
    for p in "${PIPELINES[@]}"; do
        n=$(n_for_pipeline "$p")
        for test in "${TEST_LIST[@]}"; do
            for ((rep = 1; rep <= REPEAT; rep++)); do
                if ((rep % 2)); then
                    run_bench "${A[@]}" "$test" "$p" "$n" "$rep"
                    run_bench "${B[@]}" "$test" "$p" "$n" "$rep"
                else
                    run_bench "${B[@]}" "$test" "$p" "$n" "$rep"
                    run_bench "${A[@]}" "$test" "$p" "$n" "$rep"
                fi
            done
        done
    done
}

# ------------------------------------------------------------------ modes
log "output: $OUT   (quick=$QUICK, modes=$MODES, tests=$TESTS, repeat=$REPEAT, syscalls=$SYSCALLS, cpu_clock=$CPU_CLOCK)"
log "redis-server: $REDIS_SERVER ($("$REDIS_SERVER" --version 2>/dev/null | head -n1 | cut -c1-40))"
log "halocline: $HALOCLINE"
{
    echo "date: $(date -Is)"
    echo "host: $(uname -a)"
    echo "cpus: $(nproc)  server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU clk_tck=$CLK_TCK"
    echo "redis-server: $REDIS_SERVER $("$REDIS_SERVER" --version 2>/dev/null || true)"
    echo "redis-benchmark: $REDIS_BENCHMARK"
    echo "halocline: $HALOCLINE"
    echo "halocline git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$REPO_ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (dirty)')"
    echo "quick=$QUICK modes=$MODES tests=$TESTS repeat=$REPEAT clients=$CLIENTS syscalls=$SYSCALLS cpu_clock=$CPU_CLOCK"
    echo "loadavg: $(cat /proc/loadavg)"
} >"$OUT/environment.txt"

if has_mode compare; then
    log "== compare: redis-server vs halocline --threads 1"
    start_server redis redis 1
    start_server halo1 halocline 1
    MODE_CSV=$OUT/compare.csv; echo "$CSV_HEADER" >"$MODE_CSV"
    run_pair redis redis 1 halo1 halocline 1
    stop_server redis
    stop_server halo1
fi

if has_mode threads; then
    log "== threads: halocline --threads 2 vs --threads 1, both on CPU $SERVER_CPU"
    start_server halo1 halocline 1
    start_server halo2 halocline 2
    MODE_CSV=$OUT/threads.csv; echo "$CSV_HEADER" >"$MODE_CSV"
    run_pair halo1 halocline 1 halo2 halocline 2
    stop_server halo1
    stop_server halo2
fi

if has_mode memory; then
    log "== memory: -t set -r 1000000 -n $N_MEM -d 16 -P 16 -c $CLIENTS on fresh servers"
    echo "server,threads,requests,dbsize,rss_before_kb,rss_after_kb" >"$MEMORY"
    for kind in redis halocline; do
        id=mem-$kind
        start_server "$id" "$kind" 1
        "${HELPER[@]}" cmd "${PORT[$id]}" FLUSHALL >/dev/null 2>&1 || true   # drop smoke-test keys
        before=$(rss_kb "${PID[$id]}")
        timeout "$BENCH_TIMEOUT" taskset -c "$CLIENT_CPU" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "${PORT[$id]}" \
            -c "$CLIENTS" -r 1000000 -n "$N_MEM" -d 16 -P 16 -t set -q --csv \
            >"$OUT/logs/$id.csv" 2>"$OUT/logs/$id.err" || warn "$id: redis-benchmark failed"
        alive_or_die "$id"
        sleep 0.5
        after=$(rss_kb "${PID[$id]}")
        dbsize=$("${HELPER[@]}" cmd "${PORT[$id]}" DBSIZE 2>/dev/null || echo NA)
        dbsize=${dbsize#:}
        echo "$kind,1,$N_MEM,$dbsize,$before,$after" >>"$MEMORY"
        log "$kind: VmRSS ${before} kB -> ${after} kB, DBSIZE $dbsize"
        stop_server "$id"
    done
fi

# ------------------------------------------------------------------ report
if ((COARSE > 0)); then
    warn "$COARSE runs used fewer than 50 CPU ticks ($((1000 / CLK_TCK)) ms each), so their CPU/req figures carry more than 2% rounding error; use the full run (no --quick), --repeat, or CPU_CLOCK=schedstat"
fi
"${HELPER[@]}" report "$OUT" | tee "$OUT/report.md"
echo
echo "results: $RESULTS$([[ -f $MEMORY ]] && echo "  memory: $MEMORY")  report: $OUT/report.md  logs: $OUT/logs/"
