#!/usr/bin/env bash
# Runs units of Redis 7.0.15's legacy cluster suite (tests/cluster/tests/*.tcl, the one
# `./runtest-cluster` runs) against ringkv: a copy of the suite whose src/redis-server starts
# ringkv with the config file the runner writes. Not part of `cargo test` yet.
#
#   bash tests/tcl/cluster-legacy.sh [UNIT ...]   (default: the failover units)
#
# RINGKV_BIN: the ringkv binary (default target/release/ringkv). The suite comes from
# tests/tcl/redis-src (see run.sh). The runner uses ports from 30000 up, as Redis's does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=$(realpath "${RINGKV_BIN:-target/release/ringkv}")
SRC=tests/tcl/redis-src/redis
UNITS=("$@")
if ((${#UNITS[@]} == 0)); then
    UNITS=(00-base 01-faildet 02-failover 03-failover-loop 05-slave-selection
        06-slave-stop-cond 07-replica-migration 08-update-msg 10-manual-failover
        11-manual-takeover 13-no-failover-option)
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC/tests" "$WORK/"
mkdir -p "$WORK/src"
printf '#!/bin/sh\nexec "%s" "$@" --threads 2\n' "$BIN" >"$WORK/src/redis-server"
chmod +x "$WORK/src/redis-server"
ln -s "$(command -v redis-cli)" "$WORK/src/redis-cli"
failed=0
for unit in "${UNITS[@]}"; do
    out=$(cd "$WORK" && timeout 600 tclsh tests/cluster/run.tcl --single "$unit" 2>&1) || true
    ok=$(grep -c '\[0;32;49mOK' <<<"$out" || true)
    if grep -q 'GOOD! No errors' <<<"$out"; then
        echo "$unit: ok ($ok checks)"
    else
        failed=1
        echo "$unit: FAILED ($ok checks passed)"
        grep -v 'killing stale\|Starting redis' <<<"$out" | tail -15
    fi
done
exit "$failed"
