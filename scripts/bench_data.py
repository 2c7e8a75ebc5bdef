#!/usr/bin/env python3
"""Memory of `synthex load` streaming a large test data file, against the same run on a tiny one.

Generates a CSV of ROWS rows (1,000,000 by default; BENCH_SHORT=1: 50,000) in a temporary
directory, then runs on 127.0.0.1 only, each phase bounded in time:
  1. `synthex load` in `mode: unique` over the big file (closed model, USERS users, no think
     time), against `synthex demo-target`, until every row has been sent once (`on_exhausted:
     stop`) or LIMIT seconds; resident memory (/proc/PID/status VmRSS) sampled every 50 ms.
  2. the reference: the same run over a 100-row file in `mode: sequential`, for as long as phase 1
     took, so both send about as many requests and differ only in the file.
The demo target's own request count (its /stats) is the truth for the rows sent; the report's
`data[].rows` must agree with it. Prints a Markdown table (docs/load-testing.md#test-data quotes
it) and writes it to target/bench/data-report.md. Needs a release build (`cargo build --release`).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import ROOT, SHORT, SYNTHEX, free_port, get, loadavg, require_ok, rss_bytes, start, stop

ROWS = 50_000 if SHORT else 1_000_000
USERS = 20
LIMIT = 60 if SHORT else 300
SMALL_ROWS = 100

CONFIG = """targets:
  - name: demo
    base_url: http://127.0.0.1:{port}
    rate: 1/s
    backoff: off
    scenarios:
      - name: login
        data: {{file: {file}, mode: {mode}}}
        request:
          method: GET
          path: "/health?user={{{{ row.user }}}}&id={{{{ row.id }}}}"
          headers: {{X-Email: "{{{{ row.email }}}}"}}
"""


def write_csv(path, rows):
    """`id,user,email,password`, about 60 bytes a row; returns the file's size in bytes."""
    with open(path, "w") as f:
        f.write("id,user,email,password\n")
        for i in range(1, rows + 1):
            f.write(f"{i},user{i:07d},user{i:07d}@example.test,pw-{i * 7919 % 1000003:07d}\n")
    return os.path.getsize(path)


def requests_served(port):
    return json.loads(get(f"http://127.0.0.1:{port}/stats"))["requests_total"]


def run(tmp, port, name, data_file, mode, duration):
    """One `synthex load`; returns (seconds, peak RSS, RSS samples, report, rows the target saw)."""
    config = os.path.join(tmp, f"{name}.yml")
    with open(config, "w") as f:
        f.write(CONFIG.format(port=port, file=data_file, mode=mode))
    out = os.path.join(tmp, f"out-{name}")
    before = requests_served(port)
    samples = []
    started = time.time()
    with open(os.path.join(tmp, f"{name}.log"), "w") as log:
        proc = start([SYNTHEX, "load", f"--config.file={config}", f"--users={USERS}",
                      f"--duration={duration}s", f"--out={out}", "--quiet"], log)
        done = threading.Event()

        def sample():
            while not done.is_set():
                rss = rss_bytes(proc.pid)
                if rss:
                    samples.append((time.time() - started, rss))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            status = proc.wait(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            stop(proc)
            status = None
        done.set()
        sampler.join()
    seconds = time.time() - started
    if status != 0:
        sys.exit(f"{name}: synthex load exited {status}; see {tmp}/{name}.log")
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    # /stats counts itself: the second read is one more request than the run sent.
    seen = requests_served(port) - before - 1
    peak = max((rss for _, rss in samples), default=0)
    return seconds, peak, samples, report, seen


def mib(n):
    return f"{n / 1048576:.1f} MiB"


def main():
    if not os.path.exists(SYNTHEX):
        sys.exit("needs a release build: cargo build --release")
    with tempfile.TemporaryDirectory(prefix="synthex-bench-data-") as tmp:
        big = os.path.join(tmp, "users.csv")
        size = write_csv(big, ROWS)
        small = os.path.join(tmp, "small.csv")
        write_csv(small, SMALL_ROWS)
        port = free_port()
        with open(os.path.join(tmp, "target.log"), "w") as log:
            target = start([SYNTHEX, "demo-target", f"--listen=127.0.0.1:{port}"], log)
        try:
            require_ok(f"http://127.0.0.1:{port}/health")
            load_before = loadavg()
            secs, peak, samples, report, seen = run(tmp, port, "big", big, "unique", LIMIT)
            used = report["data"][0]["rows"]
            if report.get("data_exhausted") is None and used != ROWS:
                print(f"note: the limit of {LIMIT}s came first: {used} of {ROWS} rows sent")
            if seen != used:
                sys.exit(f"the target saw {seen} requests, the report says {used} rows")
            # RSS once the index is built and the load runs (first second), and at the end.
            early = max((rss for t, rss in samples if t <= 1.0), default=0)
            late = samples[-1][1] if samples else 0
            ref_secs, ref_peak, _, ref_report, ref_seen = run(
                tmp, port, "small", small, "sequential", max(1, round(secs)))
        finally:
            stop(target)
    lines = [
        f"Test data memory (`scripts/bench_data.py`, {USERS} users, closed model, no think time, "
        f"load average before: {load_before})",
        "",
        "| run | data file | rows sent (target's count) | time | peak VmRSS |",
        "|---|---|---:|---:|---:|",
        f"| unique | {ROWS:,} rows, {mib(size)} | {seen:,} | {secs:.1f} s | {mib(peak)} |",
        f"| reference: sequential | {SMALL_ROWS} rows | {ref_seen:,} | {ref_secs:.1f} s | {mib(ref_peak)} |",
        "",
        f"The big file costs {mib(peak - ref_peak)} of resident memory more than the tiny one "
        f"({(peak - ref_peak) / ROWS:.1f} bytes a row; the row index is 8 bytes a row), "
        f"{(peak - ref_peak) / size * 100:.0f}% of the file's size. VmRSS in the first second: "
        f"{mib(early)}, at the end: {mib(late)}.",
    ]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "data-report.md"), "w") as f:
        f.write(text + "\n")
    print(f"(reference run: {ref_report['scenarios'][0]['requests']} requests)", file=sys.stderr)


if __name__ == "__main__":
    main()
