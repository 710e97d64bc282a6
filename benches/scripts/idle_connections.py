#!/usr/bin/env python3
"""Memory per idle connection: RSS growth of a server after N clients connect and send one
PING each (then stay idle), against the same count for redis-server in the same run.

    python3 benches/scripts/idle_connections.py [N] [ROUNDS]

Each round starts ringkv (RINGKV_BIN, default target/release/ringkv, with RINGKV_ARGS) and
redis-server on free ports, reads VmRSS from /proc/PID/status before and after, and prints
the growth per connection in KiB. Needs `ulimit -n` above N.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BIN = os.environ.get("RINGKV_BIN", "target/release/ringkv")
ARGS = os.environ.get("RINGKV_ARGS", "").split()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_up(port):
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no server on {port}")


def measure(cmd, port):
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(port)
            time.sleep(0.3)
            before = rss_kib(proc.pid)
            conns = []
            for i in range(N):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"PING\r\n")
                conns.append(s)
                if len(conns) % 500 == 0:
                    for c in conns[-500:]:
                        assert c.recv(16).startswith(b"+PONG")
            for c in conns[len(conns) - len(conns) % 500:]:
                assert c.recv(16).startswith(b"+PONG")
            time.sleep(1.0)
            after = rss_kib(proc.pid)
            for c in conns:
                c.close()
            return (after - before) / N
        finally:
            proc.kill()
            proc.wait()


def main():
    results = {"ringkv": [], "redis": []}
    for r in range(ROUNDS):
        port = free_port()
        ringkv = [BIN, "--port", str(port), "--save", "", "--maxclients", str(N + 100)] + ARGS
        results["ringkv"].append(measure(ringkv, port))
        port = free_port()
        redis = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                 "--maxclients", str(N + 100)]
        results["redis"].append(measure(redis, port))
        print(f"round {r + 1}: ringkv {results['ringkv'][-1]:.1f} KiB, "
              f"redis-server {results['redis'][-1]:.1f} KiB per connection", flush=True)
    med = {k: sorted(v)[len(v) // 2] for k, v in results.items()}
    print(f"median: ringkv {med['ringkv']:.1f} KiB, redis-server {med['redis']:.1f} KiB, "
          f"ratio {med['ringkv'] / med['redis']:.2f}")


if __name__ == "__main__":
    main()
