#!/usr/bin/env bash
# redis-cli and redis-benchmark against a freshly started halocline, for
# --threads 1 and --threads 2, on both I/O backends. Fails on any wrong reply.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/halocline
fail() { echo "FAIL: $*"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for backend in uring epoll; do
for threads in 1 2; do
  port=$(free_port)
  "$BIN" --port "$port" --threads "$threads" --io-backend "$backend" 2>/tmp/halocline-ci-$threads.log &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  cli() { redis-cli -p "$port" "$@"; }
  [ "$(cli ping)" = "PONG" ] || fail "ping"
  [ "$(cli set k v)" = "OK" ] || fail "set"
  [ "$(cli get k)" = "v" ] || fail "get"
  [ "$(cli mset a 1 b 2 c 3 d 4 e 5)" = "OK" ] || fail "mset"
  [ "$(cli mget a b c d e | tr '\n' ' ')" = "1 2 3 4 5 " ] || fail "mget"
  [ "$(cli del a b c d e)" = "5" ] || fail "del"
  [ "$(cli incr n)" = "1" ] || fail "incr"
  cli info server | grep -q '^redis_version:7.0.15' || fail "info"
  [ "$(printf 'PING\r\n' | cli)" = "PONG" ] || fail "inline via stdin"
  cli command docs get | grep -q summary || fail "command docs"
  # redis-cli's HELP and hints come from COMMAND DOCS' arguments.
  cli help set | grep -q 'key value \[NX|XX\] \[GET\]' || fail "redis-cli help set"
  cli help config get | grep -q 'parameter \[parameter ...\]' || fail "redis-cli help config get"
  # redis-benchmark: every test must complete without errors.
  out=$(redis-benchmark -p "$port" -q -n 20000 -c 20 -r 1000 -t ping,set,get,incr,mset 2>&1 | tr '\r' '\n' | grep -E 'requests per second' || true)
  echo "$out"
  [ "$(echo "$out" | grep -c 'requests per second')" -ge 6 ] || fail "redis-benchmark did not finish all tests"
  redis-benchmark -p "$port" -q -n 20000 -c 20 -P 16 -r 1000 -t set,get >/dev/null 2>&1 || fail "redis-benchmark -P 16"
  [ "$(cli dbsize)" -gt 0 ] || fail "dbsize after benchmark"
  cli shutdown >/dev/null 2>&1 || true
  wait $pid || fail "halocline exited non-zero after SHUTDOWN"
  trap - EXIT
  echo "tools check ok (--io-backend $backend --threads $threads)"
done
done
