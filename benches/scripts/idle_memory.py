#!/usr/bin/env python3
"""Resident memory per idle connection: opens N connections (default 10 000) to a fresh server,
sends one PING on each, reads every PONG, waits 2.5 s and diffs the server's VmRSS.

    python3 benches/scripts/idle_memory.py ringkv,redis [extra ringkv flags ...]

RINGKV_BIN (default target/release/ringkv) and N are read from the environment. Needs a file
descriptor limit above N (the script raises its soft limit to the hard one). Servers run in
an empty temporary directory on a free port and are killed at the end.
"""
import os, resource, shutil, socket, subprocess, sys, tempfile, time

N = int(os.environ.get("N", 10000))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    return port


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024


def measure(server, extra):
    port = free_port()
    if server == "redis":
        argv = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                "--maxclients", str(N + 100)]
    else:
        binary = os.path.abspath(os.environ.get("RINGKV_BIN", "target/release/ringkv"))
        argv = [binary, "--port", str(port), "--save", "", "--maxclients", str(N + 100)] + extra
    workdir = tempfile.mkdtemp()
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    conns = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        warm = socket.create_connection(("127.0.0.1", port))
        warm.sendall(b"PING\r\n"); warm.recv(100)
        time.sleep(0.3)
        before = rss(proc.pid)
        for _ in range(N):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            conns.append(s)
        for s in conns:
            if s.recv(100) != b"+PONG\r\n":
                raise SystemExit("a connection did not get +PONG")
        time.sleep(2.5)
        after = rss(proc.pid)
        return (after - before) / N / 1024
    finally:
        for s in conns:
            s.close()
        proc.kill(); proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


for server in sys.argv[1].split(","):
    kib = measure(server, sys.argv[2:])
    print(f"{server}: {kib:.1f} KiB per idle connection ({N} connections after one PING)", flush=True)
