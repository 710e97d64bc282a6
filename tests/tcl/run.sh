#!/usr/bin/env bash
# tests/tcl/run.sh - run Redis 7.0.15's own Tcl test suite against ringkv (or redis-server).
#
# Usage:
#   tests/tcl/run.sh [--server ringkv|redis] [--native] [unit/NAME ...]
#       Run the given units (default: the units listed in tests/tcl/baseline.txt)
#       against a fresh server per unit and print `unit/NAME: P passed, F failed`
#       per unit and a final `N passed, M failed` line. With --native the units
#       run in the suite's own mode (below); `native:unit/NAME` names one such unit.
#       Exit 0 if nothing failed, 1 if some test failed, 2 on setup errors.
#   tests/tcl/run.sh --split [--server ringkv|redis] [--native] unit/NAME ...
#       As the first form, with each unit run as its top-level blocks (a start_server,
#       test, foreach or if command each, with the unit's procs; tests/tcl/split.tcl
#       writes them as NAME__pNN.tcl beside it): an error outside a test or a hang
#       that ends a run then costs only its own block's tests, for either server, and
#       the blocks after it still run. For units whose later blocks an earlier one
#       keeps from running (integration/replication); not used by --check or --record.
#   tests/tcl/run.sh --check
#       Run the baseline's units against ringkv once each; exit 1 if a test named in
#       tests/tcl/passing/UNIT.txt does not pass now (even when another test newly
#       passes), or if the server crashed (exited on its own, not with status 0, or
#       panicked) in any unit. Prints which.
#   tests/tcl/run.sh --record [--server ringkv|redis] [--native] [unit/NAME ...]
#       Run ringkv and redis-server (or only the one named) over the baseline's
#       units (or only the baseline units named) and rewrite baseline.txt with the
#       new counts; for ringkv also the
#       lists of passing tests, tests/tcl/passing/UNIT.txt. Recording never drops
#       a test from a list: if a listed test fails, nothing is written for its unit
#       and the run exits 1 (fix it, or name it in tests/tcl/excluded.txt with why).
#   tests/tcl/run.sh --fetch
#       Only download/unpack the Redis source (done automatically otherwise).
#
# The suite comes from Debian's source package `redis` (7.0.15 on bookworm),
# fetched with `apt-get source` through a private apt configuration that holds
# deb-src entries derived from the machine's deb entries (the system's apt
# configuration is not modified). It is unpacked once into $RINGKV_TCL_CACHE
# and reused by later runs.
#
# A unit runs in external mode, or in native mode when its name is
# `native:unit/NAME` (baseline lines so named, or --native on the command line).
#
# External mode:
#   cd SRC && tclsh tests/test_helper.tcl --host 127.0.0.1 --port P --single unit/NAME
#        --clients 1 --durable --timeout T --baseport <random> --portcount 64
#        --tags "<tags>" [--skipfile F]
# (a random --baseport keeps concurrent runs from racing for the harness's control port;
# 22000-32199, below the kernel's ephemeral ports, which a busy machine's connections hold)
# `--durable` turns errors inside a test into failures of that test. Errors the
# harness cannot absorb (server death, hang, error outside a test) end a run of
# the unit; the unit is then re-run against a fresh server with the culprit
# test skipped (counted failed), or, when no culprit test is known, resumed
# after the tests already reported; the results are merged. A unit's result is
# that one run: nothing is run again to improve a count.
#
# Native mode: the suite starts its servers itself, each with the config file it
# writes from tests/assets/default.conf and the test's overrides. Every run gets
# a fresh copy of the suite's tests/ beside a src/ in which redis-server is the
# server under test (for ringkv a wrapper: `ringkv CONFIG $RINGKV_ARGS ARGS...`)
# and redis-cli, redis-benchmark, redis-check-aof and redis-check-rdb are the
# installed ones; then in that tree
#   tclsh tests/test_helper.tcl --single unit/NAME --clients 1 --durable
#        --timeout T --baseport <random> --portcount 200 --dont-clean
#        --tags "<native tags>" [--skipfile F]
# with the same retries and merging as above. A ringkv server that panicked
# (a bug report in any server log of the run) is a crash. The trees live under
# $RINGKV_TCL_NATIVE_DIR (the suite's unix socket paths must stay under 108
# bytes), linked from the run's log directory as KIND/tree; the servers' logs
# are in tree/UNIT.N/tests/tmp/.
#
# tests/tcl/excluded.txt names tests whose outcome is not a property of ringkv
# (they race, e.g. on the order in which two connections' commands reach a
# shard): `UNIT<TAB>TEST NAME#N<TAB>REASON`. They are left out of the passing
# lists and never fail --check.
#
# Environment:
#   RINGKV_BIN               ringkv binary (default: target/release/ringkv)
#   RINGKV_ARGS              extra ringkv arguments, e.g. "--threads 2 --io-backend epoll"
#   REDIS_SERVER_BIN         redis-server binary for --server redis (default: redis-server)
#   RINGKV_TCL_CACHE         where the Redis source is kept (default: tests/tcl/redis-src)
#   RINGKV_TCL_LOGDIR        where raw logs go (default: target/tcl-logs)
#   RINGKV_TCL_TAGS          --tags filter (default: the `# tags:` line of baseline.txt,
#                            else "-needs:repl -needs:debug")
#   RINGKV_TCL_NATIVE_TAGS   --tags filter of native units (default: the `# native-tags:`
#                            line of baseline.txt, else "-needs:repl")
#   RINGKV_TCL_ARGS          extra test_helper.tcl arguments (word-split), e.g. --ignore-encoding
#   RINGKV_TCL_UNIT_TIMEOUT  wall-clock seconds per unit, all attempts together (default 300)
#   RINGKV_TCL_TEST_TIMEOUT  seconds without progress before the harness gives up (default 60)
#   RINGKV_TCL_MAX_ATTEMPTS  runs per unit at most (default 20)
#   RINGKV_TCL_START_TIMEOUT seconds to wait for a server to come up (default 30)
#   RINGKV_TCL_CHECK_UNITS   with --check: only these baseline units (space separated)
#   RINGKV_TCL_NATIVE_DIR    where native-mode trees go (default: /tmp/ringkv-tcl; a short path)

set -euo pipefail

REDIS_VERSION=7.0.15
DEFAULT_TAGS="-needs:repl -needs:debug"
DEFAULT_NATIVE_TAGS="-needs:repl"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
BASELINE="$SCRIPT_DIR/baseline.txt"
PASSING_DIR="$SCRIPT_DIR/passing"
EXCLUDED="$SCRIPT_DIR/excluded.txt"
CACHE=${RINGKV_TCL_CACHE:-$REPO/tests/tcl/redis-src}
SRC="$CACHE/redis"
LOGROOT=${RINGKV_TCL_LOGDIR:-$REPO/target/tcl-logs}
RINGKV_BIN=${RINGKV_BIN:-$REPO/target/release/ringkv}
REDIS_SERVER_BIN=${REDIS_SERVER_BIN:-redis-server}
UNIT_TIMEOUT=${RINGKV_TCL_UNIT_TIMEOUT:-300}
TEST_TIMEOUT=${RINGKV_TCL_TEST_TIMEOUT:-60}
MAX_ATTEMPTS=${RINGKV_TCL_MAX_ATTEMPTS:-20}
START_TIMEOUT=${RINGKV_TCL_START_TIMEOUT:-30}

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: error: $*"; exit 2; }

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# ---------------------------------------------------------------- cleanup ---
SERVER_PID=""
HARNESS_PID=""
cleanup() {
    if [[ -n $HARNESS_PID ]]; then kill -TERM "$HARNESS_PID" 2>/dev/null || true; fi
    if [[ -n $SERVER_PID ]]; then stop_server; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------- prerequisites ---
apt_install() {
    # apt_install PKG...: install Debian packages (root only).
    [[ $(id -u) -eq 0 ]] || die "missing packages: $* (install them: apt-get install $*)"
    log "run.sh: installing $* ..."
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; then
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
    fi
}

need_cmd() {
    # need_cmd CMD PKG: make sure CMD exists, installing PKG if needed.
    command -v "$1" >/dev/null 2>&1 || apt_install "$2"
    command -v "$1" >/dev/null 2>&1 || die "$1 not found even after installing $2"
}

# --------------------------------------------------------- redis source ---
derive_deb_src() {
    # derive_deb_src DIR: write DIR/sources.list and DIR/sources.list.d/*.sources
    # holding deb-src twins of the system's Debian deb entries.
    local dir=$1 f n=0
    mkdir -p "$dir/sources.list.d"
    : >"$dir/sources.list"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk '$1 == "deb" { $1 = "deb-src"; print }' "$f" >>"$dir/sources.list"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        n=$((n + 1))
        # deb822: copy every stanza whose Types has "deb", as Types: deb-src.
        awk 'BEGIN { RS = ""; ORS = "\n\n" }
             {
                 if (match($0, /(^|\n)Types:[^\n]*/)) {
                     t = substr($0, RSTART, RLENGTH)
                     if (t ~ /[ \t]deb([ \t]|$)/ && t !~ /deb-src/) {
                         sub(/Types:[^\n]*/, "Types: deb-src")
                         print
                     }
                 }
             }' "$f" >"$dir/sources.list.d/derived-$n.sources"
    done
    # Keep only Debian archives (third-party repos rarely publish sources);
    # fall back to everything when that leaves nothing.
    if grep -q debian "$dir/sources.list" "$dir"/sources.list.d/*.sources 2>/dev/null; then
        local tmp
        tmp=$(grep debian "$dir/sources.list" || true)
        printf '%s\n' "$tmp" >"$dir/sources.list"
        for f in "$dir"/sources.list.d/*.sources; do
            [[ -f $f ]] || continue
            awk 'BEGIN { RS = ""; ORS = "\n\n" } /(^|\n)URIs:[^\n]*debian/ { print }' "$f" >"$f.tmp"
            mv "$f.tmp" "$f"
        done
    fi
    if ! grep -qs 'deb-src' "$dir/sources.list" "$dir"/sources.list.d/*.sources; then
        die "no deb entries found in /etc/apt to derive deb-src entries from"
    fi
}

fetch_source() {
    if [[ -f $SRC/tests/test_helper.tcl && -f $SRC/.ringkv-source-version ]]; then
        return 0
    fi
    need_cmd apt-get apt
    need_cmd dpkg-source dpkg-dev
    mkdir -p "$CACHE"
    local lockfd
    exec {lockfd}>"$CACHE/.lock"
    if command -v flock >/dev/null 2>&1; then flock "$lockfd"; fi
    if [[ -f $SRC/tests/test_helper.tcl && -f $SRC/.ringkv-source-version ]]; then
        exec {lockfd}>&-
        return 0
    fi
    log "run.sh: fetching Redis source with apt-get source into $CACHE ..."
    local apt="$CACHE/apt" work="$CACHE/download.$$"
    rm -rf "$apt" "$work"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$work"
    derive_deb_src "$apt"
    local -a opts=(-q
        -o "Dir::Etc::SourceList=$apt/sources.list"
        -o "Dir::Etc::SourceParts=$apt/sources.list.d"
        -o "Dir::State::Lists=$apt/lists"
        -o "Dir::Cache=$apt/cache")
    if [[ $(id -u) -eq 0 ]]; then opts+=(-o "APT::Sandbox::User=root"); fi
    # An unreachable extra repository must not stop us; apt-get source says
    # clearly enough if the needed index is missing.
    apt-get "${opts[@]}" update >&2 || log "run.sh: warning: apt-get update (deb-src) reported errors"
    local ver spec
    ver=$(apt-cache "${opts[@]}" showsrc redis 2>/dev/null | awk '/^Version:/ { print $2 }' |
        grep -E "^([0-9]+:)?${REDIS_VERSION//./\\.}-" | sort -V | tail -n 1 || true)
    if [[ -n $ver ]]; then
        spec="redis=$ver"
    else
        log "run.sh: WARNING: apt offers no redis $REDIS_VERSION source; taking whatever it has:"
        apt-cache "${opts[@]}" showsrc redis 2>/dev/null | awk '/^Version:/ { print "  " $2 }' >&2 || true
        spec=redis
    fi
    (cd "$work" && apt-get "${opts[@]}" source "$spec" >&2) || die "apt-get source $spec failed"
    local dir
    dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'redis-*' | head -n 1)
    [[ -n $dir && -f $dir/tests/test_helper.tcl ]] || die "apt-get source gave no redis tree with tests/test_helper.tcl"
    local got
    got=$(sed -n 's/^#define REDIS_VERSION "\(.*\)"/\1/p' "$dir/src/version.h")
    if [[ $got != "$REDIS_VERSION" ]]; then
        log "run.sh: WARNING: ============================================================"
        log "run.sh: WARNING: apt gave Redis source version '$got' (package $spec), NOT $REDIS_VERSION."
        log "run.sh: WARNING: counts will not be comparable with the baseline."
        log "run.sh: WARNING: ============================================================"
    fi
    printf 'redis %s (Debian source %s)\n' "$got" "${ver:-$(basename "$(find "$work" -maxdepth 1 -name '*.dsc' | head -n 1)" .dsc)}" \
        >"$dir/.ringkv-source-version"
    rm -rf "$SRC"
    mv "$dir" "$SRC"
    rm -rf "$work" "$apt"
    exec {lockfd}>&-
    log "run.sh: source ready: $SRC ($(cat "$SRC/.ringkv-source-version"))"
}

# ---------------------------------------------------------------- servers ---
proc_alive() {
    # A zombie (dead, not yet reaped child) counts as dead.
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
}

stop_server() {
    local pid=$SERVER_PID i
    SERVER_PID=""
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        proc_alive "$pid" || break
        sleep 0.1
    done
    if proc_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
}

free_port() {
    tclsh <<'EOF'
set s [socket -server {apply {{c a p} {close $c}}} -myaddr 127.0.0.1 0]
puts [lindex [fconfigure $s -sockname] 2]
close $s
EOF
}

wait_for_log() {
    # wait_for_log FILE REGEX: wait until FILE has a line matching REGEX (ANSI
    # colours stripped) and print it; fail if the server exits or on timeout.
    local file=$1 re=$2 deadline line
    deadline=$(($(date +%s) + START_TIMEOUT))
    while :; do
        line=$(sed 's/\x1b\[[0-9;]*m//g' "$file" 2>/dev/null | grep -m 1 -E "$re" || true)
        if [[ -n $line ]]; then
            printf '%s\n' "$line"
            return 0
        fi
        proc_alive "$SERVER_PID" || return 1
        (($(date +%s) < deadline)) || return 1
        sleep 0.05
    done
}

SERVER_HOST=127.0.0.1
SERVER_PORT=""

prepare_tree() {
    # prepare_tree KIND DIR: a runnable copy of the suite whose src/redis-server is KIND.
    local kind=$1 dir=$2 b bin
    rm -rf "$dir"
    mkdir -p "$dir/src"
    cp -r "$SRC/tests" "$dir/tests"
    rm -rf "$dir/tests/tmp"
    mkdir -p "$dir/tests/tmp"
    for b in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
        bin=$(command -v "$b") || die "$b not found (install redis-tools)"
        ln -s "$bin" "$dir/src/$b"
    done
    if [[ $kind == ringkv ]]; then
        # exec keeps the PID the suite waits to see in the log. The config file, when
        # given, must stay the first argument (as redis-server reads its command line),
        # and RINGKV_ARGS go last: a test's arguments may start with bare words that
        # redis-server appends to the config (`loglevel verbose`), not to an option of ours.
        local extra="" bin_q a
        local -a args=()
        read -r -a args <<<"${RINGKV_ARGS:-}"
        for a in "${args[@]}"; do extra+=" $(printf '%q' "$a")"; done
        bin_q=$(printf '%q' "$RINGKV_BIN")
        {
            echo '#!/bin/sh'
            echo 'if [ $# -gt 0 ] && [ -f "$1" ]; then'
            echo '    conf=$1'
            echo '    shift'
            echo "    exec $bin_q \"\$conf\" \"\$@\"$extra"
            echo 'fi'
            echo "exec $bin_q$extra \"\$@\""
        } >"$dir/src/redis-server"
        chmod +x "$dir/src/redis-server"
    else
        ln -s "$(command -v "$REDIS_SERVER_BIN")" "$dir/src/redis-server"
    fi
}

reap_tree() {
    # reap_tree DIR: kill what still runs in DIR (servers the suite left behind when it
    # was stopped); all of them are children of our own harness run.
    local dir=$1 p cwd
    for p in /proc/[0-9]*; do
        cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
        [[ $cwd == "$dir" || $cwd == "$dir"/* ]] || continue
        kill -KILL "${p#/proc/}" 2>/dev/null || true
    done
}

start_server() {
    # start_server KIND LOGFILE RUNDIR: start a fresh server, set SERVER_PID/SERVER_PORT.
    local kind=$1 logf=$2 rundir=$3 line try
    mkdir -p "$rundir"
    if [[ $kind == ringkv ]]; then
        local -a extra=()
        read -r -a extra <<<"${RINGKV_ARGS:-}"
        # --save '': as redis-server below (RINGKV_ARGS may add save points back).
        (cd "$rundir" && exec "$RINGKV_BIN" --port 0 --save '' "${extra[@]}" </dev/null >"$logf" 2>&1) &
        SERVER_PID=$!
        if ! line=$(wait_for_log "$logf" 'listening on [^ ]*:[0-9]+'); then
            log "run.sh: ringkv did not report 'listening on ...' within ${START_TIMEOUT}s (log: $logf)"
            stop_server
            return 1
        fi
        SERVER_PORT=$(grep -oE 'listening on [^ ]*:[0-9]+' <<<"$line" | head -n 1 | grep -oE '[0-9]+$')
        SERVER_HOST=127.0.0.1
        return 0
    fi
    for try in 1 2 3 4 5; do
        SERVER_PORT=$(free_port)
        # enable-debug-command/enable-protected-configs: as in the suite's own
        # tests/assets/default.conf (both are immutable at run time).
        (cd "$rundir" && exec "$REDIS_SERVER_BIN" --port "$SERVER_PORT" --bind 127.0.0.1 \
            --save '' --appendonly no --daemonize no --logfile '' --dir "$rundir" \
            --enable-debug-command yes --enable-protected-configs yes \
            </dev/null >"$logf" 2>&1) &
        SERVER_PID=$!
        if wait_for_log "$logf" 'Ready to accept connections' >/dev/null; then
            SERVER_HOST=127.0.0.1
            return 0
        fi
        stop_server
        grep -q 'Address already in use' "$logf" || break
        log "run.sh: port $SERVER_PORT was taken, retry $try"
    done
    log "run.sh: redis-server did not start (log: $logf)"
    return 1
}

# ------------------------------------------------------------ the harness ---
parse_tcl_output() {
    # Turn test_helper.tcl output into tab-separated events:
    #   ok NAME | err NAME io? | skip NAME | ignore TEXT | exception TEXT |
    #   timeout NAME (test in progress when the harness timed out) | done
    awk '
    function flush_err() {
        if (pending != "") { print "err\t" pending "\t" (io ? "io" : ""); pending = "" }
        io = 0
    }
    /^\[ok\]: / {
        flush_err(); s = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", s); print "ok\t" s; next
    }
    /^\[err\]: / {
        flush_err(); s = substr($0, 8); sub(/ in tests\/[^ ]+\.tcl$/, "", s); pending = s; next
    }
    /^\[skip\]: / { flush_err(); print "skip\t" substr($0, 9); next }
    /^\[ignore\]: / { flush_err(); print "ignore\t" substr($0, 11); next }
    /^\[exception\]: / { flush_err(); print "exception\t" substr($0, 14); next }
    /^\[[0-9]+\/[0-9]+ done\]: / { flush_err(); print "done"; next }
    /^\[TIMEOUT\]/ { flush_err(); timedout = 1; next }
    timedout && / => \(IN PROGRESS\) / { s = $0; sub(/^.* => \(IN PROGRESS\) /, "", s); print "timeout\t" s; next }
    pending != "" && /I\/O error|Bad protocol|connection refused|connection reset|broken pipe|error writing|error reading|couldn.t open socket/ { io = 1 }
    END { flush_err() }
    '
}

# Totals of the current server run.
TOTAL_PASS=0
TOTAL_FAIL=0
declare -A UNIT_PASS=()
declare -A UNIT_CRASH=()

run_unit() {
    # run_unit KIND UNIT LOGDIR: run one unit with retries; print its line.
    local kind=$1 unit=$2 logdir=$3
    local base=${unit//[\/:]/_}
    local path=${unit#native:} native=0
    if [[ $unit == native:* ]]; then native=1; fi
    local t0 deadline
    t0=$(date +%s.%N)
    deadline=$(($(date +%s) + UNIT_TIMEOUT))

    declare -A res=()      # "name#k" -> ok|err
    declare -A culprit=()  # test names skipped because they broke a run
    local resume=0 attempt=0 runs=0 ignored=0 aborts=0 extra_fail=0 note="" prev_skip="-"
    local crash="" crashes=0
    local -a tclargs=()
    read -r -a tclargs <<<"${RINGKV_TCL_ARGS:-} ${BASE_ARGS[$unit]:-}"

    if [[ ! -f $SRC/tests/$path.tcl ]]; then
        log "run.sh: no such unit: $unit (no $SRC/tests/$path.tcl)"
        UNIT_PASS[$unit]=0
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        printf '%s: 0 passed, 1 failed (no such unit)\n' "$unit"
        return 0
    fi

    while :; do
        attempt=$((attempt + 1))
        local now remaining
        now=$(date +%s)
        remaining=$((deadline - now))
        if ((attempt > MAX_ATTEMPTS)); then
            note+="${note:+; }gave up after $MAX_ATTEMPTS runs"
            extra_fail=$((extra_fail + 1))
            break
        fi
        if ((remaining < 5)); then
            note+="${note:+; }unit time limit ${UNIT_TIMEOUT}s reached"
            extra_fail=$((extra_fail + 1))
            break
        fi

        # Tests to skip in this run.
        local skipfile="$logdir/$base.$attempt.skip" name key
        : >"$skipfile"
        for name in "${!culprit[@]}"; do printf '%s\n' "$name" >>"$skipfile"; done
        if ((resume)); then
            for key in "${!res[@]}"; do printf '%s\n' "${key%#*}" >>"$skipfile"; done
        fi
        local skipsig
        skipsig=$(sort -u "$skipfile")
        if [[ $skipsig == "$prev_skip" ]]; then
            note+="${note:+; }no further progress possible"
            extra_fail=$((extra_fail + 1))
            break
        fi
        prev_skip=$skipsig
        if [[ ! -s $skipfile ]]; then rm -f "$skipfile"; fi

        local out="$logdir/$base.$attempt.tcl.log" slog="$logdir/$base.$attempt.server.log"
        # A short tree name: the suite puts unix sockets under it, and a socket path
        # longer than 107 bytes makes both servers refuse to start.
        local short="${path%%/*}"
        short="${short:0:1}.${path##*/}"
        local cwd=$SRC tree="$NATIVE_RUN/$kind/$short.$attempt"
        local -a cmd=(tclsh tests/test_helper.tcl)
        if ((native)); then
            prepare_tree "$kind" "$tree"
            ln -sfn "$NATIVE_RUN/$kind" "$logdir/tree"
            cwd=$tree
            cmd+=(--single "$path" --clients 1 --durable --timeout "$TEST_TIMEOUT"
                --baseport "$((22000 + RANDOM % 10000))" --portcount 200 --dont-clean)
            if [[ -n $NATIVE_TAGS ]]; then cmd+=(--tags "$NATIVE_TAGS"); fi
        else
            if ! start_server "$kind" "$slog" "$logdir/run/$base.$attempt"; then
                note+="${note:+; }server failed to start"
                extra_fail=$((extra_fail + 1))
                break
            fi
            cmd+=(--host "$SERVER_HOST" --port "$SERVER_PORT"
                --single "$path" --clients 1 --durable --timeout "$TEST_TIMEOUT"
                --baseport "$((22000 + RANDOM % 10000))" --portcount 64)
            if [[ -n $TAGS ]]; then cmd+=(--tags "$TAGS"); fi
        fi
        if [[ -s $skipfile ]]; then cmd+=(--skipfile "$skipfile"); fi
        cmd+=("${tclargs[@]}")
        printf '# server: %s pid %s port %s\n# cwd: %s\n# command: timeout -k 10 %s %s\n' \
            "$kind" "${SERVER_PID:-(native)}" "${SERVER_PORT:-(native)}" "$cwd" "$remaining" "${cmd[*]}" >"$out"

        local rc=0
        runs=$((runs + 1))
        (cd "$cwd" && TERM=dumb exec timeout -k 10 "$remaining" "${cmd[@]}" </dev/null >>"$out" 2>&1) &
        HARNESS_PID=$!
        wait "$HARNESS_PID" || rc=$?
        HARNESS_PID=""

        local died=0 status=0
        if ((native)); then
            reap_tree "$tree"
            local panics
            panics=$(grep -l -e 'panicked at' -e 'BUG REPORT START' "$tree"/tests/tmp/server*/std* 2>/dev/null |
                head -n 3 || true)
            if [[ -n $panics ]]; then
                crashes=$((crashes + 1))
                [[ -n $crash ]] || crash="run $attempt: a server panicked (log: ${panics//$'\n'/, })"
            fi
        elif ! proc_alive "$SERVER_PID"; then
            died=1
            wait "$SERVER_PID" 2>/dev/null || status=$?
            # Exiting on its own is a crash unless it was a clean exit (SHUTDOWN).
            if ((status != 0)) || grep -q 'panicked at' "$slog"; then
                crashes=$((crashes + 1))
                [[ -n $crash ]] || crash="run $attempt: server exited with status $status (log: $slog)"
            fi
        fi
        stop_server

        # Merge this run's results.
        local events="$logdir/$base.$attempt.events"
        parse_tcl_output <"$out" >"$events"
        declare -A occ=()
        local kind_ev rest flag k done_seen=0 exc="" inprog="" first_io="" first_io_key="" reported=0
        ignored=0
        while IFS=$'\t' read -r kind_ev rest flag; do
            case $kind_ev in
            ok | err | skip)
                k=$((${occ[$rest]:-0} + 1))
                occ[$rest]=$k
                if [[ $kind_ev != skip ]]; then
                    res["$rest#$k"]=$kind_ev
                    reported=$((reported + 1))
                fi
                if [[ $kind_ev == err && $flag == io && -z $first_io && -z ${culprit[$rest]:-} ]]; then
                    first_io=$rest
                    first_io_key="$rest#$k"
                fi
                ;;
            ignore) ignored=$((ignored + 1)) ;;
            exception) exc=$rest ;;
            timeout) inprog=$rest ;;
            done) done_seen=1 ;;
            esac
        done <"$events"

        if ((done_seen && !died)); then
            break
        fi

        # The run broke off (or the server died): find what broke it.
        aborts=$((aborts + 1))
        if ((rc == 124 || rc == 137)); then
            note+="${note:+; }unit time limit ${UNIT_TIMEOUT}s reached"
            if [[ -n $inprog ]]; then
                res["$inprog#$((${occ[$inprog]:-0} + 1))"]=err
            else
                extra_fail=$((extra_fail + 1))
            fi
            break
        fi
        local why=""
        if [[ -n $inprog && -z ${culprit[$inprog]:-} ]]; then
            culprit[$inprog]=1
            res["$inprog#$((${occ[$inprog]:-0} + 1))"]=err
            why="hang in: $inprog"
        elif ((died)) && [[ -n $first_io ]]; then
            culprit[$first_io]=1
            res[$first_io_key]=err
            why="server died in: $first_io"
        else
            why="exception outside a test: ${exc:-exit code $rc}"
            if ((died)); then why+=" (server died)"; fi
            if ((reported == 0)); then
                # Nothing ran this time: resuming would only repeat this run.
                note+="${note:+; }${why:0:160}; no further progress possible"
                extra_fail=$((extra_fail + 1))
                break
            fi
            resume=1
        fi
        if ((resume)); then
            log "run.sh: $unit: run $attempt broke off ($why); resuming after the tests already reported"
        else
            log "run.sh: $unit: run $attempt broke off ($why); running again without that test"
        fi
        note+="${note:+; }${why:0:160}"
    done

    local p=0 f=0 key
    for key in "${!res[@]}"; do
        if [[ ${res[$key]} == ok ]]; then p=$((p + 1)); else f=$((f + 1)); fi
    done
    f=$((f + extra_fail))
    {
        for key in "${!res[@]}"; do printf '%s\t%s\n' "${res[$key]}" "$key"; done | sort -k2
    } >"$logdir/$base.results"
    local secs
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    UNIT_PASS[$unit]=$p
    if ((crashes > 1)); then crash+="; $crashes runs crashed"; fi
    UNIT_CRASH[$unit]=$crash
    if [[ -n $crash ]]; then note+="${note:+; }CRASH: $crash"; fi
    TOTAL_PASS=$((TOTAL_PASS + p))
    TOTAL_FAIL=$((TOTAL_FAIL + f))
    local info="${ignored} ignored by tags, ${runs} run(s), ${aborts} broken off, ${secs}s"
    printf '%s: %d passed, %d failed (%s)\n' "$unit" "$p" "$f" "$info"
    if [[ -n $note ]]; then printf '    note: %s\n' "$note"; fi
    printf '%s\t%d\t%d\t%s\t%s\n' "$unit" "$p" "$f" "$info" "$note" >>"$logdir/summary.tsv"
}

run_units() {
    # run_units KIND UNIT...: run every unit against KIND; prints the total line.
    local kind=$1
    shift
    local logdir="$LOGRUN/$kind"
    mkdir -p "$logdir"
    TOTAL_PASS=0
    TOTAL_FAIL=0
    UNIT_PASS=()
    UNIT_CRASH=()
    if [[ $kind == ringkv ]]; then
        [[ -x $RINGKV_BIN ]] || die "ringkv binary not found: $RINGKV_BIN (run: cargo build --release, or set RINGKV_BIN)"
        log "run.sh: server: $RINGKV_BIN --port 0 ${RINGKV_ARGS:-}"
    else
        need_cmd "$REDIS_SERVER_BIN" redis-server
        local v
        v=$("$REDIS_SERVER_BIN" --version)
        log "run.sh: server: $v"
        [[ $v == *"v=$REDIS_VERSION "* ]] || log "run.sh: WARNING: redis-server is not $REDIS_VERSION; reference counts may differ"
    fi
    log "run.sh: suite: $(cat "$SRC/.ringkv-source-version"), tags: ${TAGS:-(none)}, native tags: ${NATIVE_TAGS:-(none)}, logs: $logdir"
    local unit
    for unit in "$@"; do
        run_unit "$kind" "$unit" "$logdir"
    done
}

# --------------------------------------------------------------- baseline ---
BASE_UNITS=()
declare -A BASE_MIN=()
declare -A BASE_REF=()
declare -A BASE_ARGS=()
BASE_TAGS=""
BASE_TAGS_SET=0
BASE_NATIVE_TAGS=""
BASE_NATIVE_TAGS_SET=0

read_baseline() {
    [[ -f $BASELINE ]] || return 0
    local line u a b
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line =~ ^#[[:space:]]*native-tags:[[:space:]]*(.*)$ ]]; then
            BASE_NATIVE_TAGS=${BASH_REMATCH[1]}
            BASE_NATIVE_TAGS=${BASE_NATIVE_TAGS%"${BASE_NATIVE_TAGS##*[![:space:]]}"}
            BASE_NATIVE_TAGS_SET=1
            continue
        fi
        if [[ $line =~ ^#[[:space:]]*tags:[[:space:]]*(.*)$ ]]; then
            BASE_TAGS=${BASH_REMATCH[1]}
            BASE_TAGS=${BASE_TAGS%"${BASE_TAGS##*[![:space:]]}"}
            BASE_TAGS_SET=1
            continue
        fi
        line=${line%%#*}
        read -r u a b rest <<<"$line" || true
        [[ -n ${u:-} ]] || continue
        BASE_UNITS+=("$u")
        BASE_MIN[$u]=${a:-0}
        BASE_REF[$u]=${b:-0}
        BASE_ARGS[$u]=${rest:-}
    done <"$BASELINE"
}

write_baseline() {
    local tmp="$BASELINE.tmp.$$" u
    {
        cat <<EOF
# ringkv upstream-conformance baseline: Redis $REDIS_VERSION's own Tcl test suite
# (Debian source package \`redis\`), run by tests/tcl/run.sh (test_helper.tcl --clients 1
# --durable --tags "<tags below>"). Plain units run in external mode, one fresh server per
# unit; \`native:unit/NAME\` units run in the suite's own mode, which starts its servers
# itself (src/redis-server being the server under test) with the config each test writes
# (tags: the native-tags line).
#
# Columns:  <unit>  <ringkv passes>  <redis-server $REDIS_VERSION passes in the same mode>
#   column 2: ringkv's passing tests, listed by name in tests/tcl/passing/UNIT.txt;
#             \`tests/tcl/run.sh --check\` fails when one of them fails (or ringkv crashes).
#   column 3: the reference: what redis-server $REDIS_VERSION itself passes here (goal: >= 95 %).
#   optional rest: extra test_helper.tcl arguments for that unit, used for both servers
#   (--ignore-encoding where Redis 7.0's suite names encodings Redis 7.2 and ringkv changed).
# Regenerate: tests/tcl/run.sh --record            (both columns)
#             tests/tcl/run.sh --record --server ringkv   (or redis: one column)
# Add a unit: append a line \`unit/NAME 0 0\` and record.
# The tags lines are read by run.sh (RINGKV_TCL_TAGS / RINGKV_TCL_NATIVE_TAGS override them).
# tags: $TAGS
# native-tags: $NATIVE_TAGS
EOF
        for u in "${BASE_UNITS[@]}"; do
            printf '%-31s %5s %5s%s\n' "$u" "${BASE_MIN[$u]}" "${BASE_REF[$u]}" "${BASE_ARGS[$u]:+ ${BASE_ARGS[$u]}}"
        done
    } >"$tmp"
    mv "$tmp" "$BASELINE"
    log "run.sh: wrote $BASELINE"
}

# Test names compared as bytes (sort and comm must agree on one order).
csort() { LC_ALL=C sort "$@"; }
ccomm() { LC_ALL=C comm "$@"; }

unit_file() { printf '%s\n' "${1//[\/:]/_}"; }
passing_file() { printf '%s/%s.txt\n' "$PASSING_DIR" "$(unit_file "$1")"; }

excluded_of() {
    # excluded_of UNIT: the excluded test keys (NAME#N) of UNIT, one a line.
    [[ -f $EXCLUDED ]] || return 0
    awk -F '\t' -v u="$1" '$0 !~ /^#/ && $1 == u && $2 != "" { print $2 }' "$EXCLUDED"
}

passed_now() {
    # passed_now UNIT LOGDIR: the test keys that passed in this run, minus excluded ones, sorted.
    local results
    results="$2/$(unit_file "$1").results"
    [[ -f $results ]] || return 0
    awk -F '\t' '$1 == "ok" { print $2 }' "$results" | csort -u |
        ccomm -23 - <(excluded_of "$1" | csort -u)
}

lost_tests() {
    # lost_tests UNIT LOGDIR: tests of UNIT's passing list (not excluded) that did not pass.
    local list
    list=$(passing_file "$1")
    [[ -f $list ]] || return 0
    ccomm -23 <(csort -u "$list" | ccomm -23 - <(excluded_of "$1" | csort -u)) <(passed_now "$1" "$2")
}

# ------------------------------------------------------------------- main ---
MODE=run
SERVER=""
UNITS=()
NATIVE_FLAG=0
SPLIT=0
while (($#)); do
    case $1 in
    --server)
        (($# >= 2)) || die "--server needs an argument"
        SERVER=$2
        shift 2
        ;;
    --server=*)
        SERVER=${1#*=}
        shift
        ;;
    --check) MODE=check; shift ;;
    --native) NATIVE_FLAG=1; shift ;;
    --record) MODE=record; shift ;;
    --fetch) MODE=fetch; shift ;;
    --split) SPLIT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *)
        u=$1
        prefix=""
        if [[ $u == native:* ]]; then prefix=native: u=${u#native:}; fi
        u=${u%.tcl}
        u=${u#tests/}
        [[ $u == */* ]] || u="unit/$u"
        UNITS+=("$prefix$u")
        shift
        ;;
    esac
done
if ((NATIVE_FLAG)); then
    for i in "${!UNITS[@]}"; do UNITS[i]=native:${UNITS[i]#native:}; done
fi
case ${SERVER:-ringkv} in
ringkv | redis) ;;
*) die "--server must be ringkv or redis" ;;
esac

read_baseline
if [[ -n ${RINGKV_TCL_TAGS+x} ]]; then
    TAGS=$RINGKV_TCL_TAGS
elif ((BASE_TAGS_SET)); then
    TAGS=$BASE_TAGS
else
    TAGS=$DEFAULT_TAGS
fi
if [[ -n ${RINGKV_TCL_NATIVE_TAGS+x} ]]; then
    NATIVE_TAGS=$RINGKV_TCL_NATIVE_TAGS
elif ((BASE_NATIVE_TAGS_SET)); then
    NATIVE_TAGS=$BASE_NATIVE_TAGS
else
    NATIVE_TAGS=$DEFAULT_NATIVE_TAGS
fi

need_cmd tclsh tcl
need_cmd timeout coreutils
fetch_source
if [[ $MODE == fetch ]]; then
    exit 0
fi

LOGRUN="$LOGROOT/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$LOGRUN"
ln -sfn "$LOGRUN" "$LOGROOT/latest" 2>/dev/null || true
NATIVE_ROOT=${RINGKV_TCL_NATIVE_DIR:-/tmp/ringkv-tcl}
NATIVE_RUN="$NATIVE_ROOT/${LOGRUN##*/}"
# Keep the 20 newest runs' logs (and native trees).
for root in "$LOGROOT" "$NATIVE_ROOT"; do
    old_runs=("$root"/[0-9]*-[0-9]*/)
    if [[ -d ${old_runs[0]} ]] && ((${#old_runs[@]} > 20)); then
        rm -rf "${old_runs[@]:0:${#old_runs[@]}-20}"
    fi
done

case $MODE in
run)
    if ((${#UNITS[@]} == 0)); then
        ((${#BASE_UNITS[@]})) || die "no units given and no baseline units"
        UNITS=("${BASE_UNITS[@]}")
    fi
    if ((SPLIT)); then
        parts=()
        for u in "${UNITS[@]}"; do
            prefix=""
            if [[ $u == native:* ]]; then prefix=native:; fi
            file="$SRC/tests/${u#native:}.tcl"
            [[ -f $file ]] || die "no such unit: $file"
            rm -f "${file%.tcl}"__p[0-9]*.tcl
            while IFS= read -r part; do
                part=${part#"$SRC/tests/"}
                parts+=("$prefix${part%.tcl}")
            done < <(tclsh "$SCRIPT_DIR/split.tcl" "$file")
        done
        UNITS=("${parts[@]}")
    fi
    run_units "${SERVER:-ringkv}" "${UNITS[@]}"
    printf 'raw logs: %s\n' "$LOGRUN"
    printf '%d passed, %d failed\n' "$TOTAL_PASS" "$TOTAL_FAIL"
    if ((TOTAL_FAIL > 0)); then exit 1; fi
    exit 0
    ;;
check)
    [[ -z $SERVER || $SERVER == ringkv ]] || die "--check runs against ringkv only"
    ((${#UNITS[@]} == 0)) || die "--check takes its units from $BASELINE"
    ((${#BASE_UNITS[@]})) || die "no units in $BASELINE"
    if [[ -n ${RINGKV_TCL_CHECK_UNITS:-} ]]; then
        # Check only these baseline units (space separated).
        read -r -a BASE_UNITS <<<"$RINGKV_TCL_CHECK_UNITS"
    fi
    run_units ringkv "${BASE_UNITS[@]}"
    regress=0
    regressed=""
    ref_total=0
    for u in "${BASE_UNITS[@]}"; do
        p=${UNIT_PASS[$u]} m=${BASE_MIN[$u]} r=${BASE_REF[$u]}
        ref_total=$((ref_total + r))
        awk -v u="$u" -v p="$p" -v m="$m" -v r="$r" 'BEGIN {
            printf "  %-22s ringkv %4d   baseline %4d   redis %4d   %s\n", u, p, m, r,
                (r > 0 ? sprintf("%.1f %%", 100 * p / r) : "-") }'
        if [[ -n ${UNIT_CRASH[$u]:-} ]]; then
            printf 'CRASH: %s: %s\n' "$u" "${UNIT_CRASH[$u]}"
            regress=1
            regressed+=" $u (crash)"
        fi
        if [[ ! -f $(passing_file "$u") ]]; then
            printf 'NO BASELINE: %s: no %s (record it)\n' "$u" "$(passing_file "$u")"
            regress=1
            regressed+=" $u (no passing list)"
            continue
        fi
        lost=$(lost_tests "$u" "$LOGRUN/ringkv")
        if [[ -n $lost ]]; then
            printf 'REGRESSION: %s: these tests passed in the baseline and fail now:\n' "$u"
            printf '    %s\n' "${lost//$'\n'/$'\n'    }"
            regress=1
            # The names go on the summary line too: a CI log may keep only its end.
            regressed+=" $u ($(wc -l <<<"$lost") lost: ${lost//$'\n'/; })"
        fi
        if ((p < m)); then
            printf 'REGRESSION: %s: %d passed, baseline is %d\n' "$u" "$p" "$m"
            regress=1
        fi
    done
    if ((ref_total > 0)); then
        awk -v p="$TOTAL_PASS" -v r="$ref_total" \
            'BEGIN { printf "ringkv passes %d of the %d tests redis-server passes (%.1f %%)\n", p, r, 100 * p / r }'
    fi
    if ((regress)); then echo "check: FAILED (see above):$regressed"; else echo "check: ok (every baseline test passes, no crash)"; fi
    printf 'raw logs: %s\n' "$LOGRUN"
    printf '%d passed, %d failed\n' "$TOTAL_PASS" "$TOTAL_FAIL"
    exit "$regress"
    ;;
record)
    ((${#BASE_UNITS[@]})) || die "no units in $BASELINE"
    if ((${#UNITS[@]} == 0)); then UNITS=("${BASE_UNITS[@]}"); fi
    for u in "${UNITS[@]}"; do
        [[ -n ${BASE_MIN[$u]+x} ]] || die "$u is not in $BASELINE (add a line \`$u 0 0\` first)"
    done
    if [[ -z $SERVER || $SERVER == ringkv ]]; then
        run_units ringkv "${UNITS[@]}"
        mkdir -p "$PASSING_DIR"
        refused=""
        for u in "${UNITS[@]}"; do
            lost=$(lost_tests "$u" "$LOGRUN/ringkv")
            if [[ -n $lost || -n ${UNIT_CRASH[$u]:-} ]]; then
                printf 'NOT RECORDED: %s:%s\n' "$u" "${UNIT_CRASH[$u]:+ crash: ${UNIT_CRASH[$u]}}"
                if [[ -n $lost ]]; then printf '    lost: %s\n' "${lost//$'\n'/$'\n'    lost: }"; fi
                refused+=" $u"
                continue
            fi
            passed_now "$u" "$LOGRUN/ringkv" >"$(passing_file "$u")"
            BASE_MIN[$u]=$(wc -l <"$(passing_file "$u")")
        done
        printf 'ringkv: %d passed, %d failed\n' "$TOTAL_PASS" "$TOTAL_FAIL"
    fi
    if [[ -z $SERVER || $SERVER == redis ]]; then
        run_units redis "${UNITS[@]}"
        for u in "${UNITS[@]}"; do BASE_REF[$u]=${UNIT_PASS[$u]}; done
        printf 'redis-server: %d passed, %d failed\n' "$TOTAL_PASS" "$TOTAL_FAIL"
    fi
    write_baseline
    printf 'raw logs: %s\n' "$LOGRUN"
    printf '%d passed, %d failed\n' "$TOTAL_PASS" "$TOTAL_FAIL"
    if [[ -n ${refused:-} ]]; then
        echo "record: units left as they were (a listed test failed or the server crashed):$refused"
        exit 1
    fi
    exit 0
    ;;
esac
