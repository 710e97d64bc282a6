#!/usr/bin/env python3
"""Pools the measured rounds of several compare reports of one build (a run and its "-2").

    python3 benches/scripts/pool.py bench-results/DATE-COMMIT.md bench-results/DATE-COMMIT-2.md

Prints, per ringkv configuration, the median rps and requests per CPU-second over every round
of every report (warm-up rounds r0 left out) beside redis-server's, and the ratios. Requests
per run come from each report's Appendix A; rates and CPU seconds from its Appendix B.
"""
import collections
import re
import statistics
import sys

REDIS = "redis-server"
ROW = re.compile(r"^\| (\S+) \| (\S+) \| (\d+) \| (\d+) \|", re.M)
BLOCK = re.compile(r"^### (\S+) P=(\d+)\n\n```\n(.*?)```", re.M | re.S)
RUN = re.compile(r"r(\d+) (\S+)\s+port=\d+ cpu=([0-9.]+)s\s+(.*)")
# redis-benchmark's CSV line, or the pub/sub and MULTI/EXEC drivers' summaries.
RATE = re.compile(r'^"[^"]*","([0-9.]+)"|([0-9.]+) (?:tx|deliveries)/s')


def read(paths):
    rates, cpus, requests, order = (
        collections.defaultdict(list),
        collections.defaultdict(list),
        {},
        [],
    )
    for path in paths:
        text = open(path).read()
        for server, test, pipeline, count in ROW.findall(text):
            requests[(server, test, pipeline)] = int(count)
        for test, pipeline, body in BLOCK.findall(text):
            if (test, pipeline) not in order:
                order.append((test, pipeline))
            for line in body.splitlines():
                run = RUN.match(line)
                if not run or run.group(1) == "0":
                    continue
                rate = RATE.search(run.group(4))
                if not rate:
                    continue
                key = (run.group(2), test, pipeline)
                rates[key].append(float(rate.group(1) or rate.group(2)))
                cpus[key].append(float(run.group(3)))
    return rates, cpus, requests, order


def main(paths):
    rates, cpus, requests, order = read(paths)
    order.sort(key=lambda row: int(row[1]))
    servers = sorted({key[0] for key in rates if key[0] != REDIS})
    for server in servers:
        rounds = max(len(v) for k, v in rates.items() if k[0] == server)
        print(f"\n{server} vs {REDIS}, {rounds} rounds pooled\n")
        print("| test | P | ringkv rps | redis rps | ratio | ringkv req/CPU-s | redis req/CPU-s | CPU ratio |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|")
        for test, pipeline in order:
            ours, theirs = (server, test, pipeline), (REDIS, test, pipeline)
            count = requests.get(ours) or requests.get(theirs)
            if ours not in rates or theirs not in rates or not count:
                continue
            rate = [statistics.median(rates[k]) for k in (ours, theirs)]
            per_cpu = [statistics.median(count / c for c in cpus[k] if c > 0) for k in (ours, theirs)]
            print(
                f"| {test} | {pipeline} | {rate[0] / 1e3:.1f}k | {rate[1] / 1e3:.1f}k | "
                f"{rate[0] / rate[1]:.2f} | {per_cpu[0] / 1e3:.1f}k | {per_cpu[1] / 1e3:.1f}k | "
                f"{per_cpu[0] / per_cpu[1]:.2f} |"
            )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
