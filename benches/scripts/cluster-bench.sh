#!/usr/bin/env bash
# redis-benchmark --cluster against a local 3-master cluster of ringkv or redis-server nodes,
# made with redis-cli --cluster create; prints redis-benchmark's -q lines and the requests per
# server CPU-second (user + system time of the three node processes, from /proc/PID/stat).
#
#   bash benches/scripts/cluster-bench.sh ringkv|redis [REQUESTS] [PIPELINE] [TESTS]
#   (defaults: 1000000 16 set,get)
#
# RINGKV_BIN: the ringkv binary (default target/release/ringkv). RINGKV_THREADS: threads per
# ringkv node (default 1, as each redis-server node serves on one). Ports are picked free.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SERVER=${1:?ringkv or redis}
REQUESTS=${2:-1000000}
PIPELINE=${3:-16}
TESTS=${4:-set,get}
BIN=${RINGKV_BIN:-target/release/ringkv}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
    # A client port whose bus port (+10000) fits too.
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p < 55000: print(p); break'
}
PORTS=()
for i in 1 2 3; do
    port=$(free_port)
    mkdir -p "$WORK/n$i"
    if [[ $SERVER == ringkv ]]; then
        "$BIN" --port "$port" --threads "${RINGKV_THREADS:-1}" --cluster-enabled yes \
            --dir "$WORK/n$i" --save '' >"$WORK/n$i/log" 2>&1 &
    else
        (cd "$WORK/n$i" && exec redis-server --port "$port" --cluster-enabled yes --save '' \
            --appendonly no >"$WORK/n$i/log" 2>&1) &
    fi
    PIDS+=($!)
    PORTS+=("$port")
done
for port in "${PORTS[@]}"; do
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
done
redis-cli --cluster create "${PORTS[@]/#/127.0.0.1:}" --cluster-yes >"$WORK/create.log" 2>&1
# Every node must see the whole cluster before the benchmark reads the slot map.
for port in "${PORTS[@]}"; do
    for _ in $(seq 200); do
        [[ $(redis-cli -p "$port" cluster slots | grep -c '^127.0.0.1$') -ge 3 ]] &&
            redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok' && break
        sleep 0.1
    done
done
ticks() {
    local total=0
    for pid in "${PIDS[@]}"; do
        read -r -a stat <"/proc/$pid/stat"
        total=$((total + stat[13] + stat[14]))
    done
    echo "$total"
}
before=$(ticks)
start=$(date +%s.%N)
redis-benchmark --cluster -p "${PORTS[0]}" -t "$TESTS" -n "$REQUESTS" -P "$PIPELINE" -r 100000 -q \
    2>&1 | tr '\r' '\n' | grep -E '^[A-Z]+: [0-9.]+ requests per second' || true
end=$(date +%s.%N)
after=$(ticks)
hz=$(getconf CLK_TCK)
commands=$((REQUESTS * $(echo "$TESTS" | tr ',' '\n' | wc -l)))
python3 - "$commands" "$before" "$after" "$hz" "$start" "$end" <<'EOF'
import sys
n, before, after, hz, start, end = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
cpu = (after - before) / hz
print(f"server CPU {cpu:.2f} s for {n} requests in {end - start:.2f} s: {n / cpu:.0f} requests per server CPU-second")
EOF
