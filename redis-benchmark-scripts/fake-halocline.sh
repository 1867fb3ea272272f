#!/usr/bin/env bash
# Stand-in for halocline when testing compare.sh without a halocline build:
#   HALOCLINE=redis-benchmark-scripts/fake-halocline.sh NO_BUILD=1 redis-benchmark-scripts/compare.sh --quick
# Accepts halocline's flags (--port N --threads N), drops --threads and execs redis-server,
# so the PID that compare.sh measures is the redis-server process.
set -euo pipefail
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --threads) shift ;;
        --threads=*) ;;
        *) args+=("$1") ;;
    esac
    shift
done
exec "${REDIS_SERVER:-redis-server}" "${args[@]}" --save '' --appendonly no
