#!/usr/bin/env bash
# What one attached replica costs a master, in instructions per write: the master runs under
# callgrind (one thread, so the count does not depend on the machine's load), a redis-server
# 7.0 replica (not under callgrind) attaches and finishes its full sync, the counters are
# zeroed, then a pipelined SET load runs and the count stops once the replica has the master's
# offset. The same load without a replica gives the base.
#
#   bash benches/scripts/replica-cost.sh MASTER [REQUESTS] [PIPELINE]
#   MASTER: ringkv (target/release/ringkv, or RINGKV_BIN) or redis (redis-server)
# Prints "<master> base|replica <instructions> <per SET>". KEEP=PATH keeps the two profiles
# (PATH.0 without a replica, PATH.1 with one) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MASTER=${1:?ringkv or redis}
REQUESTS=${2:-300000}
PIPELINE=${3:-16}
BIN=${RINGKV_BIN:-target/release/ringkv}
OUT=$(mktemp -d)
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT
wait_ping() { for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.2; done; echo "no answer on $1" >&2; exit 1; }
field() { redis-cli -p "$1" info replication | tr -d '\r' | sed -n "s/^$2://p"; }

# run WITH_REPLICA: prints the instruction count of the measured load.
run() {
    local port rport pid rpid=""
    port=$(free_port)
    case $MASTER in
        ringkv) valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" "$BIN" --port "$port" \
                    --threads 1 --io-backend epoll --save '' --dir "$OUT" >/dev/null 2>&1 & ;;
        redis) valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" redis-server --port "$port" \
                    --save '' --appendonly no --dir "$OUT" --repl-diskless-sync no >/dev/null 2>&1 & ;;
    esac
    pid=$!
    PIDS+=("$pid")
    wait_ping "$port"
    redis-benchmark -p "$port" -t set -P 16 -c 50 -r 100000 -n 200000 -q >/dev/null
    if [[ $1 == 1 ]]; then
        rport=$(free_port)
        mkdir -p "$OUT/r"
        redis-server --port "$rport" --save '' --appendonly no --dir "$OUT/r" \
            --replicaof 127.0.0.1 "$port" >/dev/null 2>&1 &
        rpid=$!
        PIDS+=("$rpid")
        for _ in $(seq 600); do
            [[ $(field "$rport" master_link_status) == up ]] && break
            sleep 0.2
        done
        [[ $(field "$rport" master_link_status) == up ]] || { echo "replica never synced" >&2; exit 1; }
    fi
    callgrind_control -z "$pid" >/dev/null
    redis-benchmark -p "$port" -t set -P "$PIPELINE" -c 1 -r 100000 -n "$REQUESTS" -q >/dev/null
    if [[ $1 == 1 ]]; then
        local want
        want=$(field "$port" master_repl_offset)
        for _ in $(seq 600); do
            [[ $(field "$rport" slave_repl_offset) -ge $want ]] && break
            sleep 0.2
        done
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    [[ -n $rpid ]] && kill "$rpid" 2>/dev/null
    local total=0 f n
    # The process's own file (a fork's child, if any, writes its own and is left out: the
    # sync finished before the count started).
    f=$OUT/cg.$pid
    n=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    [[ -n ${KEEP:-} ]] && cp "$f" "$KEEP.$1"
    rm -f "$OUT"/cg.*
    echo "$n"
}
base=$(run 0)
with=$(run 1)
awk -v m="$MASTER" -v b="$base" -v w="$with" -v n="$REQUESTS" 'BEGIN {
    printf "%s base %d %.0f\n%s replica %d %.0f\n%s cost per SET %.0f (%+.1f %%)\n",
        m, b, b / n, m, w, w / n, m, (w - b) / n, 100 * (w - b) / b }'
