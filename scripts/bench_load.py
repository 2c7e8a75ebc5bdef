#!/usr/bin/env python3
"""Performance figures of `synthex load`, each against a reference measured in the same run.

Runs on 127.0.0.1 only, every phase bounded in time. Needs a release build, Debian's `wrk` and
`nginx` (or `nginx-light`), `taskset`, and Locust in target/bench/locust-venv (scripts/bench-load.sh
installs them all). Prints a Markdown report (the README's load-test performance section is a copy
of it) and writes it to target/bench/load-report.md.

Every load generator runs pinned to core 0 (`taskset -c 0`) and every target to core 1, so "one
core" means one core; the figures that matter are ratios between generators measured minutes
apart in the same run, not absolute numbers (other work on the machine shows in the load average
printed beside each phase).

Phases:
  1. throughput on one core on a trivial endpoint: nginx (one worker, `return 200 "ok"`; the demo
     target's /health when nginx is not usable) loaded by wrk, `synthex load` (closed model, no
     think time) and Locust headless (FastHttpUser), each with the same number of
     connections/users for the same time, in interleaved rounds (wrk, synthex, Locust, wrk, …);
     each round's synthex/wrk and synthex/Locust ratio, reported as the median with its range;
     Locust HttpUser once.
  2. memory: `synthex load` at the same users for at least a million requests; resident memory
     (/proc/PID/status VmRSS) sampled throughout, its value after the millionth request and peak.
  3. latency accuracy at 100 users on the demo target's fixed 50 ms endpoint: wrk --latency as
     the reference, `synthex load --users=100` and the same with --new-connections, in
     interleaved rounds; p50/p99 of each and the median of each round's differences to its wrk.
  4. open model: `synthex load --rate=R` (keep-alive, the direct connection path) at 70 % and
     90 % of phase 1's median closed-model rate; achieved rate and its ratio to the closed
     model, dropped arrivals, connections open to the target mid-run.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import (ROOT, SHORT, SYNTHEX, cpu_seconds, free_port, loadavg, median_range, ratio_text, rss_bytes,
                      start, stop, wait_ok)

LOCUST = os.path.join(ROOT, "target", "bench", "locust-venv", "bin", "locust")
OUT = os.path.join(ROOT, "target", "bench")
SECONDS = int(os.environ.get("BENCH_SECONDS", "5" if SHORT else "15"))
CONNECTIONS = 32  # phases 1, 2 and 4: connections / users of every generator
LATENCY_USERS = 100  # phase 3
# Phase 1: interleaved rounds of wrk, synthex and Locust FastHttpUser.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if SHORT else "3"))
MEMORY_REQUESTS = 100_000 if SHORT else 1_000_000  # phase 2
GEN_CORE, TARGET_CORE = "0", "1"


def children(pid):
    """Pids whose parent is `pid` (nginx's worker under its master)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out


class Run:
    """One bounded generator run: its output, wall time and CPU seconds (from wait4)."""

    def __init__(self, args, limit, cwd=None):
        self.args = args
        t0 = time.time()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, cwd=cwd)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            sys.exit(f"{' '.join(args)} did not finish within {limit}s\n{err[-2000:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
        self.wall = time.time() - t0
        self.stdout, self.stderr, self.status = out, err, proc.returncode
        # communicate() reaped the child: its CPU time is in RUSAGE_CHILDREN (see timed()).


def cpu_children():
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(args, limit, cwd=None):
    before = cpu_children()
    run = Run(args, limit, cwd)
    run.cpu = cpu_children() - before
    return run


def pinned(core, args):
    return ["taskset", "-c", core] + args


# --- targets --------------------------------------------------------------------------------


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "ok";
        }}
    }}
}}
"""


class Target:
    """The process serving the trivial endpoint, pinned to TARGET_CORE."""

    def __init__(self, tmp):
        self.procs = []
        self.port = free_port()
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if nginx:
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(tmp=tmp, port=self.port))
            proc = start(pinned(TARGET_CORE, [nginx, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "nginx-error.log")]),
                         open(os.path.join(tmp, "nginx.log"), "w"))
            self.procs.append(proc)
            if wait_ok(f"http://127.0.0.1:{self.port}/", 10):
                self.name = "nginx (1 worker, `return 200 \"ok\"`)"
                self.url = f"http://127.0.0.1:{self.port}/"
                self.version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
                return
            stop(proc)
            self.procs.clear()
            print("nginx did not start; falling back to the demo target", file=sys.stderr)
        self.port = free_port()
        self.procs.append(start(pinned(TARGET_CORE, [SYNTHEX, "demo-target", f"--listen=127.0.0.1:{self.port}"]),
                                open(os.path.join(tmp, "target-fast.log"), "w")))
        if not wait_ok(f"http://127.0.0.1:{self.port}/health"):
            sys.exit("the demo target did not start")
        self.name = "synthex demo-target `/health` (nginx not usable)"
        self.url = f"http://127.0.0.1:{self.port}/health"
        self.version = "synthex demo-target"

    def worker_pids(self):
        """The processes doing the serving (nginx's worker, or the demo target itself)."""
        pids = []
        for proc in self.procs:
            pids.append(proc.pid)
            pids += children(proc.pid)
        return pids

    def cpu(self):
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def close(self):
        for proc in self.procs:
            stop(proc)


# --- generators -----------------------------------------------------------------------------


def wrk(url, connections, seconds, latency=False):
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"] + (["--latency"] if latency else []) + [url]
    run = timed(pinned(GEN_CORE, args), seconds + 30)
    if run.status != 0:
        sys.exit(f"wrk failed: {run.stderr}")
    out = run.stdout
    run.requests = int(re.search(r"(\d+) requests in", out).group(1))
    run.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    run.errors = (int(errors.group(1)) if errors else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    if latency:
        def pct(p):
            m = re.search(rf"^\s+{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            value, unit = float(m.group(1)), m.group(2)
            return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
        run.p50, run.p99 = pct(50), pct(99)
    return run


def synthex_config(path, url):
    _, _, rest = url.partition("127.0.0.1:")
    port, _, path_part = rest.partition("/")
    with open(path, "w") as f:
        f.write("\n".join([
            "targets:",
            "  - name: bench",
            f"    base_url: http://127.0.0.1:{port}",
            "    rate: 1/s            # required by the config schema, unused by load tests",
            "    timeout: 5s",
            "    scenarios:",
            f"      - {{name: bench, request: {{path: \"/{path_part}\"}}}}",
        ]) + "\n")


def quantile_ms(buckets, q):
    """Value at which the cumulative count reaches q·total, from [[value_us, count], …]."""
    total = sum(c for _, c in buckets)
    if not total:
        return float("nan")
    need, seen = q * total, 0
    for value, count in sorted(buckets):
        seen += count
        if seen >= need:
            return value / 1e3
    return sorted(buckets)[-1][0] / 1e3


def synthex_load(tmp, url, seconds, users=None, rate=None, extra=()):
    cfg = os.path.join(tmp, f"load-{time.time_ns()}.yml")
    synthex_config(cfg, url)
    out = os.path.join(tmp, f"out-{time.time_ns()}")
    model = [f"--users={users}"] if users else [f"--rate={rate}"]
    args = [SYNTHEX, "load", f"--config.file={cfg}", *model, f"--duration={seconds}s", "--quiet", f"--out={out}", *extra]
    run = timed(pinned(GEN_CORE, args), seconds + 60)
    if run.status != 0:
        sys.exit(f"synthex load exited {run.status}: {run.stderr[-2000:]}")
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    scenario = report["scenarios"][0]
    run.requests = scenario["requests"]
    run.errors = scenario.get("failures", 0)
    run.duration = report["duration_seconds"]
    run.rps = run.requests / run.duration if run.duration else float("nan")
    buckets = scenario["latency"]["buckets"]
    run.p50, run.p99 = quantile_ms(buckets, 0.5), quantile_ms(buckets, 0.99)
    return run


LOCUSTFILE = """\
from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser


class Fast(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("{path}")


class Plain(HttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("{path}")
"""


def locust(tmp, url, users, seconds, user_class):
    base, path = url.split("/", 3)[:3], "/" + url.split("/", 3)[3]
    host = "/".join(base)
    locustfile = os.path.join(tmp, "locustfile.py")
    with open(locustfile, "w") as f:
        f.write(LOCUSTFILE.format(path=path))
    prefix = os.path.join(tmp, f"locust-{user_class}")
    args = [LOCUST, "-f", locustfile, "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--host", host, "--csv", prefix, "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING",
            user_class]
    run = timed(pinned(GEN_CORE, args), seconds + 60, cwd=tmp)
    with open(prefix + "_stats.csv") as f:
        header, *rows = [line.rstrip("\n").split(",") for line in f]
    row = next(r for r in rows if r[header.index("Name")].strip('"') == "Aggregated")
    run.requests = int(row[header.index("Request Count")])
    run.errors = int(row[header.index("Failure Count")])
    run.rps = float(row[header.index("Requests/s")])
    return run


# --- phases ---------------------------------------------------------------------------------


def phase_throughput(tmp, report, results):
    target = Target(tmp)
    runs = {}  # generator name -> runs, in the order measured
    try:
        load = loadavg()

        def measure(name, fn):
            t_cpu0 = target.cpu()
            run = fn()
            run.target_cpu = target.cpu() - t_cpu0
            run.per_cpu = run.requests / run.cpu if run.cpu else float("nan")
            runs.setdefault(name, []).append(run)
            print(f"  {name}: {run.rps:.0f} req/s, {run.cpu:.1f} CPU s in {run.wall:.1f} s", file=sys.stderr, flush=True)

        wrk_name = f"wrk {WRK_VERSION} `-t1 -c{CONNECTIONS}`"
        synthex_name = f"synthex load `--users={CONNECTIONS}`"
        fast_name = f"Locust {LOCUST_VERSION} FastHttpUser, 1 process, `-u {CONNECTIONS}`"
        plain_name = f"Locust {LOCUST_VERSION} HttpUser, 1 process, `-u {CONNECTIONS}`"
        # Interleaved rounds, so that a burst of other work on the machine hits every generator
        # alike; each round's ratios count.
        for _ in range(ROUNDS):
            measure(wrk_name, lambda: wrk(target.url, CONNECTIONS, SECONDS))
            measure(synthex_name, lambda: synthex_load(tmp, target.url, SECONDS, users=CONNECTIONS))
            measure(fast_name, lambda: locust(tmp, target.url, CONNECTIONS, SECONDS, "Fast"))
        measure(plain_name, lambda: locust(tmp, target.url, CONNECTIONS, SECONDS, "Plain"))
        load_after = loadavg()
    finally:
        target.close()
    w, s, lf = runs[wrk_name], runs[synthex_name], runs[fast_name]
    lh = runs[plain_name][0]
    r_wrk = [a.rps / b.rps for a, b in zip(s, w)]
    r_fast = [a.rps / b.rps for a, b in zip(s, lf)]
    c_wrk = [a.per_cpu / b.per_cpu for a, b in zip(s, w)]
    c_fast = [a.per_cpu / b.per_cpu for a, b in zip(s, lf)]
    r_plain = median_range([r.rps for r in s])[0] / lh.rps
    results["closed_rps"] = median_range([r.rps for r in s])[0]
    results.update(ratio_wrk=median_range(r_wrk), ratio_locust=median_range(r_fast),
                   cpu_ratio_wrk=median_range(c_wrk), cpu_ratio_locust=median_range(c_fast))
    report.append(f"### Throughput on one core, trivial endpoint, {CONNECTIONS} connections/users, {SECONDS} s each\n")
    report.append(f"Target: {target.name} ({target.version}) pinned to core {TARGET_CORE}; every generator pinned to "
                  f"core {GEN_CORE} (`taskset -c {GEN_CORE}`). wrk, synthex and Locust FastHttpUser ran {ROUNDS} "
                  f"interleaved rounds (all shown); HttpUser once. Load average before/after: {load} / {load_after}.\n")
    report.append("| round | generator | requests/s | requests per generator CPU s | requests | errors | "
                  "generator CPU s (per wall s) | target CPU s (per wall s) |")
    report.append("|---|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        for k, run in enumerate(rs, 1):
            report.append(f"| {k} | {name} | {run.rps:,.0f} | {run.per_cpu:,.0f} | {run.requests:,} | {run.errors} | "
                          f"{run.cpu:.1f} ({run.cpu / run.wall:.2f}) | {run.target_cpu:.1f} ({run.target_cpu / run.wall:.2f}) |")
    report.append("")
    report.append(f"Median of the per-round ratios: synthex / wrk = **{ratio_text(r_wrk)}** (goal ≥ 0.80) · "
                  f"synthex / Locust FastHttpUser = **{ratio_text(r_fast, 1, '×')}** (goal ≥ 12×) · "
                  f"synthex / Locust HttpUser = **{r_plain:.1f}×**. Per CPU second: synthex / wrk = {ratio_text(c_wrk)}, "
                  f"synthex / Locust FastHttpUser = {ratio_text(c_fast, 1, '×')}.")
    contended = sorted({name for name, rs in runs.items() for run in rs if run.cpu / run.wall < 0.85})
    if contended:
        report.append(f"\nNote: {', '.join(contended)} got less than 0.85 CPU s per wall s in some round although "
                      "CPU-bound: other work shared core 0, so prefer the per-CPU-second ratios.")
    report.append("")


def phase_memory(tmp, report, results):
    """Resident memory of `synthex load` through at least MEMORY_REQUESTS requests."""
    closed = results.get("closed_rps") or 50_000
    seconds = max(SECONDS, int(MEMORY_REQUESTS / closed * 2) + 2)
    target = Target(tmp)
    samples = []  # (seconds since start, VmRSS bytes)
    try:
        load = loadavg()
        cfg = os.path.join(tmp, "load-memory.yml")
        synthex_config(cfg, target.url)
        out = os.path.join(tmp, "out-memory")
        args = pinned(GEN_CORE, [SYNTHEX, "load", f"--config.file={cfg}", f"--users={CONNECTIONS}",
                                 f"--duration={seconds}s", "--quiet", f"--out={out}"])
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True)
        t0, peak = time.time(), 0
        while proc.poll() is None and time.time() - t0 < seconds + 60:
            rss = rss_bytes(proc.pid)
            if rss:
                samples.append((time.time() - t0, rss))
                peak = max(peak, rss_bytes(proc.pid, "VmHWM"))
            time.sleep(0.2)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            sys.exit(f"synthex load exited {proc.returncode}: {err[-2000:]}")
        with open(os.path.join(out, "report.json")) as f:
            requests = json.load(f)["scenarios"][0]["requests"]
    finally:
        target.close()
    short = requests < MEMORY_REQUESTS  # a machine much slower than phase 1 measured
    # The last samples are the process after its last request (while it writes the report).
    final = samples[-1][1] if samples else 0
    first = next((rss for at, rss in samples if at >= 1.0), final)
    results.update(memory_final=final, memory_peak=peak, memory_requests=requests)
    report.append(f"### Memory of a long load test, {CONNECTIONS} users, {requests:,} requests in {seconds} s\n")
    report.append(f"Same target and pinning as the throughput phase; resident memory read from /proc/PID/status every "
                  f"0.2 s. Load average before: {load}.\n")
    report.append("| after 1 s | after the last request | peak (VmHWM) | requests |")
    report.append("|---|---|---|---|")
    report.append(f"| {first / 2**20:.1f} MiB | **{final / 2**20:.1f} MiB** | {peak / 2**20:.1f} MiB | {requests:,} |")
    report.append(f"\nResident memory after {requests:,} requests: **{final / 2**20:.1f} MiB** (goal ≤ 30 MB after "
                  f"{MEMORY_REQUESTS:,}); the latency histograms are HDR and no request is stored, but every "
                  "one-second interval of the timeline keeps its own histogram, so memory grows with the test's "
                  "duration." + (f" Note: fewer than {MEMORY_REQUESTS:,} requests in {seconds} s." if short else "") + "\n")


def phase_latency(tmp, report, results):
    """wrk, synthex keep-alive and synthex with new connections in ROUNDS interleaved rounds, each
    round's differences taken against that round's wrk: one run per client let a disturbed
    reference (or a disturbed synthex run) decide the figure."""
    port = free_port()
    target = start(pinned(TARGET_CORE, [SYNTHEX, "demo-target", f"--listen=127.0.0.1:{port}"]),
                   open(os.path.join(tmp, "target-delay.log"), "w"))
    clients = (f"wrk `-t1 -c{LATENCY_USERS} --latency`", f"synthex load `--users={LATENCY_USERS}` (keep-alive)",
               f"synthex load `--users={LATENCY_USERS} --new-connections`")
    rounds = []
    try:
        if not wait_ok(f"http://127.0.0.1:{port}/health"):
            sys.exit("the demo target did not start")
        url = f"http://127.0.0.1:{port}/delay/50"
        load = loadavg()
        for _ in range(ROUNDS):
            rounds.append((wrk(url, LATENCY_USERS, SECONDS, latency=True),
                           synthex_load(tmp, url, SECONDS, users=LATENCY_USERS),
                           synthex_load(tmp, url, SECONDS, users=LATENCY_USERS, extra=["--new-connections"])))
        load_after = loadavg()
    finally:
        stop(target)
    report.append(f"### Latency accuracy at {LATENCY_USERS} users, demo target `/delay/50`, {SECONDS} s each\n")
    report.append(f"Target pinned to core {TARGET_CORE}, generators to core {GEN_CORE}; wrk is the reference, "
                  f"{len(rounds)} interleaved rounds (wrk, synthex, synthex with new connections), each synthex "
                  f"run compared with its round's wrk. Load average before/after: {load} / {load_after}.\n")
    report.append("| round | client | p50 ms | p99 ms | Δp50 vs wrk | Δp99 vs wrk | requests/s | errors |")
    report.append("|---|---|---|---|---|---|---|---|")
    for i, runs in enumerate(rounds, 1):
        w = runs[0]
        for name, run in zip(clients, runs):
            report.append(f"| {i} | {name} | {run.p50:.2f} | {run.p99:.2f} | {run.p50 - w.p50:+.2f} | "
                          f"{run.p99 - w.p99:+.2f} | {run.rps:,.0f} | {run.errors} |")
    report.append("")
    for index, label in ((1, "keep-alive"), (2, "new connections")):
        dp50 = median_range([r[index].p50 - r[0].p50 for r in rounds])
        dp99 = median_range([r[index].p99 - r[0].p99 for r in rounds])
        if index == 1:
            results.update(dp50=dp50[0], dp99=dp99[0])
        report.append(f"synthex ({label}) − wrk, median of the rounds: p50 **{dp50[0]:+.2f} ms** (range "
                      f"{dp50[1]:+.2f} to {dp50[2]:+.2f}; goal within 1 ms), p99 **{dp99[0]:+.2f} ms** (range "
                      f"{dp99[1]:+.2f} to {dp99[2]:+.2f}; goal within 3 ms).\n")


def established(port):
    """Established TCP connections whose server side is 127.0.0.1:`port`."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "01" and int(local.split(":")[1], 16) == port:
                n += 1
    return n


def phase_open(tmp, report, results):
    closed = results.get("closed_rps", float(os.environ.get("BENCH_CLOSED_RPS", "1000")))
    target = Target(tmp)
    rows = []
    try:
        load = loadavg()
        for share in (0.7, 0.9):
            rate = max(100, int(closed * share / 100) * 100)
            seen = []
            timer = threading.Timer(SECONDS / 2 + 1, lambda: seen.append(established(target.port)))
            timer.start()
            try:
                s = synthex_load(tmp, target.url, SECONDS, rate=f"{rate}/s")
            finally:
                timer.cancel()
            dropped = re.search(r"dropped[=:\s]+(\d+)", s.stderr)
            rows.append((share, rate, s, dropped.group(1) if dropped else "0", seen[0] if seen else "?"))
            print(f"  --rate={rate}/s: {s.rps:.0f} req/s", file=sys.stderr, flush=True)
    finally:
        target.close()
    best = max(s.rps for _, _, s, _, _ in rows)
    results["open_ratio"] = best / closed
    report.append(f"### Open model at 70 % and 90 % of the closed-model rate above, {SECONDS} s each\n")
    report.append(f"Same target and pinning as the throughput phase; keep-alive connections shared by the arrivals "
                  f"(the direct connection path); `--max-in-flight` at its default (10 000). Load average before: {load}.\n")
    report.append("| command | achieved requests/s | of planned | of the closed model's median | p50 ms | p99 ms | errors | "
                  "dropped arrivals | connections open mid-run | CPU s (per wall s) |")
    report.append("|---|---|---|---|---|---|---|---|---|---|")
    for share, rate, s, dropped, conns in rows:
        report.append(f"| synthex load `--rate={rate}/s` ({share:.0%}) | {s.rps:,.0f} | {100 * s.rps / rate:.1f} % | "
                      f"{s.rps / closed:.2f}× | {s.p50:.2f} | {s.p99:.2f} | {s.errors} | {dropped} | {conns} | "
                      f"{s.cpu:.1f} ({s.cpu / s.wall:.2f}) |")
    report.append(f"\nThe open model reaches **{best / closed:.2f}×** the closed model's median requests/s (goal ≥ 0.7×).\n")


LOCUST_VERSION = "?"
WRK_VERSION = "?"


def main():
    global LOCUST_VERSION, WRK_VERSION
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: run scripts/bench-load.sh, which installs it")
    if not os.path.exists(SYNTHEX):
        sys.exit("no release build: run scripts/bench-load.sh")
    if not os.path.exists(LOCUST):
        sys.exit("Locust missing: run scripts/bench-load.sh, which installs it in target/bench/locust-venv")
    if os.cpu_count() < 2:
        sys.exit("needs 2 cores: one for the generators, one for the target")
    LOCUST_VERSION = subprocess.run([LOCUST, "--version"], capture_output=True, text=True).stdout.split()[1]
    m = re.search(r"(\d+\.\d+\.\d+)", subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout)
    WRK_VERSION = m.group(1) if m else "?"
    tmp = tempfile.mkdtemp(prefix="synthex-bench-load-")
    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
    report = [f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores ({model}), loopback, release "
              f"build; Locust {LOCUST_VERSION}; load average at start {loadavg()}.\n"]
    results = {}
    try:
        # BENCH_PHASES=latency,open runs only those phases (the open model then plans from
        # BENCH_CLOSED_RPS, or 1000/s).
        chosen = os.environ.get("BENCH_PHASES")
        for phase in (phase_throughput, phase_memory, phase_latency, phase_open):
            if chosen and phase.__name__.removeprefix("phase_") not in chosen.split(","):
                continue
            print(f"{phase.__name__} …", file=sys.stderr, flush=True)
            phase(tmp, report, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(report)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "load-report.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(OUT, "load-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
