#!/usr/bin/env python3
"""Who gets the cores: server and load generator CPU under one redis-benchmark load.

For each server command, alternating (A B C A B C ...), each server fresh: a warm-up SET run
fills the key space (-r 100000), then the measured run (50 clients). Per round it prints the
throughput and p99 latency, the server's CPU per request (utime + stime from /proc/PID/stat,
all threads), the load generator's CPU per request (its rusage, from wait4), how busy each
was (CPU seconds per wall second, 1.0 = one core), and how long each waited runnable for a
core per request (the run-queue delay of /proc/PID/task/*/schedstat: with more runnable
threads than cores, requests wait there), then the medians per server.

    python3 benches/scripts/share.py TEST PIPELINE REQUESTS ROUNDS "CMD" ["CMD" ...]
    e.g. python3 benches/scripts/share.py ping_mbulk 16 2000000 3 \\
             "redis-server --save '' --appendonly no" "target/release/ringkv --threads 1 --save ''" \\
             "target/release/ringkv --save ''"

Each command gets `--port P` appended (a free port). Servers are killed at the end of their
round; none is left running.
"""
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    return (int(fields[11]) + int(fields[12])) / TICK


def run_delay(pid):
    """Seconds the process's threads have waited runnable on a run queue (schedstat field 2)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def wait_ready(port):
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer PING")


def bench(port, test, pipeline, requests):
    """Runs redis-benchmark; returns (rps, p99 ms, client CPU seconds, wall seconds, client
    run-queue seconds). The client's run-queue delay is polled while it runs (it is gone once
    it exits), so up to one poll interval at its end is missed."""
    argv = ["redis-benchmark", "-p", str(port), "-t", test, "-P", str(pipeline), "-c", "50",
            "-r", "100000", "-n", str(requests), "--csv"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    waited = [0.0]
    done = threading.Event()

    def poll():
        # Not proc.poll(): that would reap the child before wait4 can read its rusage.
        while not done.wait(0.02):
            try:
                # Monotonic; a zombie lists no threads, so never step back.
                waited[0] = max(waited[0], run_delay(proc.pid))
            except OSError:
                return

    poller = threading.Thread(target=poll)
    poller.start()
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    poller.join()
    wall = time.monotonic() - started
    if status != 0:
        raise RuntimeError(f"redis-benchmark failed: {out}")
    lines = [l for l in out.splitlines() if l.strip()]
    header = [h.strip('"') for h in lines[0].split(",")]
    row = [v.strip('"') for v in lines[-1].split(",")]
    rps = float(row[header.index("rps")])
    p99 = float(row[header.index("p99_latency_ms")])
    return rps, p99, usage.ru_utime + usage.ru_stime, wall, waited[0]


def run_one(command, test, pipeline, requests):
    port = free_port()
    server = subprocess.Popen(shlex.split(command) + ["--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        bench(port, "set", 16, 200000)
        before, waited_before = cpu_seconds(server.pid), run_delay(server.pid)
        rps, p99, client_cpu, wall, client_waited = bench(port, test, pipeline, requests)
        server_cpu = cpu_seconds(server.pid) - before
        server_waited = run_delay(server.pid) - waited_before
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {
        "rps": rps,
        "p99_ms": p99,
        "server_us": server_cpu * 1e6 / requests,
        "client_us": client_cpu * 1e6 / requests,
        "server_busy": server_cpu / wall,
        "client_busy": client_cpu / wall,
        "server_wait_us": server_waited * 1e6 / requests,
        "client_wait_us": client_waited * 1e6 / requests,
    }


def show(row):
    return (f"rps {row['rps']:>10.0f}  p99 {row['p99_ms']:6.3f} ms  "
            f"server {row['server_us']:5.2f} us/req "
            f"busy {row['server_busy']:4.2f}  client {row['client_us']:5.2f} us/req "
            f"busy {row['client_busy']:4.2f}  run-queue wait server {row['server_wait_us']:5.2f} "
            f"client {row['client_wait_us']:5.2f} us/req")


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark not found (apt-get install redis-tools)")
    test = sys.argv[1]
    pipeline, requests, rounds = (int(a) for a in sys.argv[2:5])
    commands = sys.argv[5:]
    print(f"test {test}, -P {pipeline}, {requests} requests, 50 clients, -r 100000, "
          f"{rounds} rounds")
    results = {c: [] for c in commands}
    for r in range(1, rounds + 1):
        for i, command in enumerate(commands):
            row = run_one(command, test, pipeline, requests)
            results[command].append(row)
            print(f"round {r} {chr(65 + i)}: {show(row)}", flush=True)
    for i, command in enumerate(commands):
        rows = results[command]
        median = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        print(f"median {chr(65 + i)} ({command}): {show(median)}")


if __name__ == "__main__":
    main()
