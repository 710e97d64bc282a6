#!/usr/bin/env bash
# Same-run A/B of two server commands under one redis-benchmark load, alternating A B A B:
# prints, per round, throughput and the server's user and system CPU per request (utime and
# stime from /proc/PID/stat around the measured run), then the medians.
#
#   bash benches/scripts/ab.sh "A command" "B command" [TEST] [PIPELINE] [REQUESTS] [ROUNDS]
#   e.g. bash benches/scripts/ab.sh "/tmp/ringkv-old --threads 2" "target/release/ringkv --threads 2 --save ''" get 1 100000 3
#        bash benches/scripts/ab.sh "redis-server --save '' --appendonly no" "target/release/ringkv --save ''" set 16
# (ringkv, like redis-server, has save points by default: pass --save '' to both for a run
# without background saves.) A third command in the environment variable C joins the
# alternation (A B C A B C ...), e.g. the build before, the build after and redis-server.
# BENCH_PREFIX (e.g. "taskset -c 1") runs redis-benchmark under a command, BENCH_ARGS (e.g.
# "--threads 2") adds to its arguments: with a server command under "taskset -c 0", clients
# and server then have a core each.
#
# Each command gets `--port P` appended (a free port). Each server is fresh: a warm-up SET run
# fills the key space first (-r 100000), then the measured run (50 clients). Servers are killed
# at the end of their round.
set -euo pipefail
A=${1:?A command}
B=${2:?B command}
C=${C:-}
BENCH_PREFIX=${BENCH_PREFIX:-}
BENCH_ARGS=${BENCH_ARGS:-}
TEST=${3:-get}
PIPELINE=${4:-1}
REQUESTS=${5:-100000}
ROUNDS=${6:-3}
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)" >&2; exit 2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PID=""
trap '[[ -n $PID ]] && kill $PID 2>/dev/null || true' EXIT

# run_one COMMAND: prints "rps user_us sys_us".
run_one() {
    local port
    port=$(free_port)
    bash -c "exec $1 --port $port" >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
        # redis-benchmark would retry a dead port forever.
        echo "ab.sh: the server did not start: $1" >&2
        exit 2
    fi
    # shellcheck disable=SC2086 # the prefix and extra arguments are word lists
    $BENCH_PREFIX redis-benchmark -p "$port" -t set -P 16 -c 50 -r 100000 -n 200000 $BENCH_ARGS -q >/dev/null 2>&1
    local u0 s0 u1 s1 rps
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$PID/stat")
    # shellcheck disable=SC2086
    rps=$($BENCH_PREFIX redis-benchmark -p "$port" -t "$TEST" -P "$PIPELINE" -c 50 -r 100000 -n "$REQUESTS" $BENCH_ARGS -q 2>&1 |
        tr '\r' '\n' | grep "requests per second" | tail -1 | sed "s/.*: //" | awk "{print \$1}")
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$PID/stat")
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    local tick
    tick=$(getconf CLK_TCK)
    awk -v r="$rps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$REQUESTS" -v t="$tick" \
        'BEGIN { printf "%s %.2f %.2f\n", r, u * 1e6 / t / n, s * 1e6 / t / n }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "test $TEST, -P $PIPELINE, $REQUESTS requests, 50 clients, -r 100000, $ROUNDS rounds${BENCH_PREFIX:+, client under '$BENCH_PREFIX'}${BENCH_ARGS:+, client args '$BENCH_ARGS'}"
echo "A: $A"
echo "B: $B"
SIDES="A B"
if [[ -n $C ]]; then
    echo "C: $C"
    SIDES="A B C"
fi
declare -a AR BR CR
shown() { echo "$1 rps $(cut -d' ' -f1 <<<"$2") user $(cut -d' ' -f2 <<<"$2") us sys $(cut -d' ' -f3 <<<"$2") us"; }
for round in $(seq "$ROUNDS"); do
    a=$(run_one "$A")
    b=$(run_one "$B")
    AR+=("$a")
    BR+=("$b")
    line="round $round: $(shown A "$a") | $(shown B "$b")"
    if [[ -n $C ]]; then
        c=$(run_one "$C")
        CR+=("$c")
        line="$line | $(shown C "$c")"
    fi
    echo "$line"
done
for side in $SIDES; do
    case $side in
        A) rows=("${AR[@]}") ;;
        B) rows=("${BR[@]}") ;;
        *) rows=("${CR[@]}") ;;
    esac
    rps=$(printf '%s\n' "${rows[@]}" | cut -d' ' -f1 | median)
    user=$(printf '%s\n' "${rows[@]}" | cut -d' ' -f2 | median)
    sys=$(printf '%s\n' "${rows[@]}" | cut -d' ' -f3 | median)
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    echo "median $side: rps $rps, user $user us, sys $sys us, CPU $cpu us per request"
done
