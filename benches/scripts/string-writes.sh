#!/usr/bin/env bash
# Writes into one large string, pipelined with redis-cli --pipe: SETRANGE into a 100 KB value,
# APPEND of 100 bytes to a growing value, SETBIT at spread offsets of a 1 MB bitmap. Prints the
# wall time and the server's CPU time (user + system, from /proc/PID/stat) per workload.
#
#   bash benches/scripts/string-writes.sh ringkv|redis [SETRANGES] [APPENDS] [SETBITS]
#   (defaults: 1000000 20000 20000)
#
# RINGKV_BIN: the ringkv binary (default target/release/ringkv). The port is picked free.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SERVER=${1:?ringkv or redis}
SETRANGES=${2:-1000000}
APPENDS=${3:-20000}
SETBITS=${4:-20000}
BIN=${RINGKV_BIN:-target/release/ringkv}
WORK=$(mktemp -d)
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [[ $SERVER == ringkv ]]; then
    "$BIN" --port "$PORT" --threads 2 --save "" >/dev/null 2>&1 &
else
    redis-server --port "$PORT" --save "" --dir "$WORK" >/dev/null 2>&1 &
fi
PID=$!
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
python3 - "$WORK" "$SETRANGES" "$APPENDS" "$SETBITS" <<'PY'
import sys
work, setranges, appends, setbits = sys.argv[1], *map(int, sys.argv[2:])
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
open(f"{work}/setrange", "wb").write(cmd("setrange", "s", 0, "A" * 10) * setranges)
open(f"{work}/append", "wb").write(cmd("append", "a", "x" * 100) * appends)
step = 8 * 1024 * 1024 // max(setbits, 1)
open(f"{work}/setbit", "wb").write(b"".join(cmd("setbit", "b", (i * step + i) % (8 << 20), i & 1) for i in range(setbits)))
PY
redis-cli -p "$PORT" setrange s 100000 x >/dev/null
redis-cli -p "$PORT" setbit b $((8 * 1024 * 1024 - 1)) 1 >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
hz=$(getconf CLK_TCK)
declare -A COUNT=([setrange]=$SETRANGES [append]=$APPENDS [setbit]=$SETBITS)
for work in setrange append setbit; do
    t0=$(ticks); s=$(date +%s.%N)
    redis-cli -p "$PORT" --pipe <"$WORK/$work" >"$WORK/out" 2>&1
    e=$(date +%s.%N); t1=$(ticks)
    grep -q "errors: 0" "$WORK/out" || { cat "$WORK/out"; exit 1; }
    printf '%s %-8s commands %8d  wall %6.3f s  server cpu %6.2f s\n' "$SERVER" "$work" \
        "${COUNT[$work]}" \
        "$(echo "$e - $s" | bc)" "$(echo "($t1 - $t0) / $hz" | bc -l)"
done
