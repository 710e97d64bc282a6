#!/usr/bin/env bash
# Counts the instructions ringkv spends on a fixed redis-benchmark load, under callgrind:
# repeatable on a noisy machine where wall-clock and CPU-second figures are not.
#
#   bash benches/scripts/callgrind.sh [BIN] [TEST] [PIPELINE] [REQUESTS]
#   (defaults: target/release/ringkv set 16 300000)
#
# One thread, epoll backend (valgrind does not follow io_uring), 50 clients, 100 000 random
# keys. Prints callgrind's PROGRAM TOTALS (startup included, about 10 M instructions) and
# leaves the profile in target/callgrind.out for callgrind_annotate.
# FILL=1: write the key space with SETs first and count only the measured run (GET hits).
# THREADS=N: run N threads (default 1). CLIENTS=N: redis-benchmark clients (default 50; 1 makes
# every batch one full pipeline, which repeats to within a few instructions a request).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=${1:-target/release/ringkv}
TEST=${2:-set}
PIPELINE=${3:-16}
REQUESTS=${4:-300000}
OUT=target/callgrind.out
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 2; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)" >&2; exit 2; }
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$OUT" "$BIN" --port "$PORT" --threads "${THREADS:-1}" \
    --io-backend epoll --save '' >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 150); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.2
done
if [[ ${FILL:-0} == 1 ]]; then
    # Fill the key space first (GET then measures hits, not misses), and count from zero after.
    redis-benchmark -p "$PORT" -t set -P 16 -c 50 -r 100000 -n 300000 -q >/dev/null
    callgrind_control -z "$PID" >/dev/null
fi
redis-benchmark -p "$PORT" -t "$TEST" -P "$PIPELINE" -c "${CLIENTS:-50}" -r 100000 -n "$REQUESTS" -q >/dev/null
kill "$PID"
wait "$PID" 2>/dev/null || true
trap - EXIT
callgrind_annotate "$OUT" | grep "PROGRAM TOTALS"
