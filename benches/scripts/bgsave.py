#!/usr/bin/env python3
"""What a BGSAVE costs the clients of a server: ringkv and redis-server in the same run.

    python3 benches/scripts/bgsave.py RINGKV_BIN [KEYS] [ROUNDS]

Each server (ringkv with its default threads, redis-server with --save '' --appendonly no) is
started on a free port with its own directory under /tmp and filled with KEYS (default 1 000 000)
string keys `key:N` = 16 bytes through `redis-cli --pipe`. Servers take turns, round by round;
the one not measured is stopped with SIGSTOP. Per round and server:

- idle: the longest PING round trip of one client pinging back to back for 1 s, no BGSAVE;
- bgsave: the same client's longest PING round trip from just before BGSAVE is sent until INFO
  says the save is over (polled on another connection), with the BGSAVE reply time and the
  save's duration;
- set: `redis-benchmark -t set -P 16 -c 50 -r KEYS -n 2000000 --csv` alone, then the same run
  with BGSAVEs back to back for its whole length (a loop starts the next one when INFO shows none
  running); rps and p99 from the CSV.

Prints every round's raw figures, then the medians.
"""
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return line

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def info(self, field):
        text = self.call("INFO", "persistence").decode()
        for l in text.splitlines():
            if l.startswith(field + ":"):
                return l.split(":", 1)[1].strip()
        return None


def start(cmd, port, workdir):
    log = open(os.path.join(workdir, "server.log"), "w")
    proc = subprocess.Popen(cmd + ["--port", str(port)], cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            if Client(port).call("PING") == b"+PONG":
                return proc
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start: %s" % cmd)


def fill(port, keys):
    value = b"v" * 16
    chunks = []
    for i in range(keys):
        k = b"key:%d" % i
        chunks.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n" % (len(k), k, value))
    data = b"".join(chunks)
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data, check=True, stdout=subprocess.DEVNULL)


def pinger(port, stop, samples):
    c = Client(port)
    while not stop.is_set():
        t = time.perf_counter()
        c.call("PING")
        samples.append((t, time.perf_counter() - t))


def wait_save_done(c):
    while c.info("rdb_bgsave_in_progress") != "0":
        time.sleep(0.01)


def measure_idle(port):
    stop, samples = threading.Event(), []
    th = threading.Thread(target=pinger, args=(port, stop, samples))
    th.start()
    time.sleep(1.0)
    stop.set()
    th.join()
    return max(s for _, s in samples), len(samples)


def measure_bgsave(port):
    c = Client(port)
    wait_save_done(c)
    stop, samples = threading.Event(), []
    th = threading.Thread(target=pinger, args=(port, stop, samples))
    th.start()
    time.sleep(0.2)
    begin = time.perf_counter()
    reply = c.call("BGSAVE")
    replied = time.perf_counter() - begin
    assert reply.startswith(b"+Background saving started"), reply
    wait_save_done(c)
    took = time.perf_counter() - begin
    time.sleep(0.05)
    stop.set()
    th.join()
    during = [s for t, s in samples if t >= begin - 0.01 and t <= begin + took]
    return max(during), len(during), replied, took


def benchmark(port, keys):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-P", "16", "-c", "50", "-r", str(keys),
         "-n", "2000000", "--csv"],
        check=True, capture_output=True, text=True).stdout
    lines = [l for l in out.splitlines() if l.strip()]
    header = [h.strip('"') for h in lines[0].split(",")]
    row = [v.strip('"') for v in lines[1].split(",")]
    got = dict(zip(header, row))
    return float(got["rps"]), float(got["p99_latency_ms"]), out


def benchmark_with_bgsaves(port, keys):
    stop = threading.Event()
    count = [0]

    def saver():
        c = Client(port)
        while not stop.is_set():
            if c.info("rdb_bgsave_in_progress") == "0":
                if c.call("BGSAVE").startswith(b"+Background saving started"):
                    count[0] += 1
            time.sleep(0.005)
        wait_save_done(c)

    th = threading.Thread(target=saver)
    th.start()
    time.sleep(0.05)
    result = benchmark(port, keys)
    stop.set()
    th.join()
    return result + (count[0],)


def main():
    ringkv = sys.argv[1]
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    servers = {
        "ringkv": [os.path.abspath(ringkv), "--save", ""],
        "redis": ["redis-server", "--save", "", "--appendonly", "no"],
    }
    procs, ports, dirs = {}, {}, {}
    try:
        for name, cmd in servers.items():
            dirs[name] = tempfile.mkdtemp(prefix="bgsave-%s-" % name)
            ports[name] = free_port()
            procs[name] = start(cmd, ports[name], dirs[name])
            fill(ports[name], keys)
            dbsize = Client(ports[name]).call("DBSIZE")
            print("%s: %s keys, dir %s" % (name, dbsize.decode().lstrip(":"), dirs[name]), flush=True)
            procs[name].send_signal(signal.SIGSTOP)
        results = {name: [] for name in servers}
        for r in range(rounds):
            for name in servers:
                procs[name].send_signal(signal.SIGCONT)
                port = ports[name]
                idle_max, idle_n = measure_idle(port)
                bg_max, bg_n, replied, took = measure_bgsave(port)
                rps, p99, raw = benchmark(port, keys)
                rps_b, p99_b, raw_b, saves = benchmark_with_bgsaves(port, keys)
                row = dict(idle_max=idle_max * 1e3, bg_max=bg_max * 1e3, replied=replied * 1e3,
                           took=took * 1e3, rps=rps, p99=p99, rps_b=rps_b, p99_b=p99_b, saves=saves)
                results[name].append(row)
                print("round %d %s: idle max PING %.2f ms (%d pings); during BGSAVE max PING %.2f ms "
                      "(%d pings), BGSAVE reply %.2f ms, save %.0f ms; SET P=16 alone %.0f rps p99 %.3f ms; "
                      "with %d BGSAVEs %.0f rps p99 %.3f ms"
                      % (r, name, row["idle_max"], idle_n, row["bg_max"], bg_n, row["replied"], row["took"],
                         rps, p99, saves, rps_b, p99_b), flush=True)
                print("  raw alone: " + raw.strip().replace("\n", " | "))
                print("  raw with BGSAVEs: " + raw_b.strip().replace("\n", " | "), flush=True)
                procs[name].send_signal(signal.SIGSTOP)
        print()
        print("| server | idle max PING ms | max PING during BGSAVE ms | BGSAVE reply ms | save ms | "
              "SET P=16 rps | p99 ms | rps with BGSAVEs | p99 ms with BGSAVEs |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
        for name, rows in results.items():
            med = lambda k: statistics.median(x[k] for x in rows)
            print("| %s | %.2f | %.2f | %.2f | %.0f | %.0f | %.3f | %.0f | %.3f |"
                  % (name, med("idle_max"), med("bg_max"), med("replied"), med("took"), med("rps"),
                     med("p99"), med("rps_b"), med("p99_b")))
    finally:
        for p in procs.values():
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()
            except Exception:
                pass
        for d in dirs.values():
            subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
