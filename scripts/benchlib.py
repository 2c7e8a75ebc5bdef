"""Helpers shared by the bench scripts (bench.py, bench_load.py): ports, processes and /proc."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SYNTHEX_BIN: another build to measure (an A/B against a copy of the previous release binary).
SYNTHEX = os.environ.get("SYNTHEX_BIN", os.path.join(ROOT, "target", "release", "synthex"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
SHORT = os.environ.get("BENCH_SHORT") == "1"  # quick smoke run of a script itself


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ok(url, limit=20.0):
    """Whether `url` answered 200 within `limit` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def require_ok(url, limit=20.0):
    """Waits for `url` to answer 200, or ends the bench saying which did not."""
    if not wait_ok(url, limit):
        sys.exit(f"{url} did not answer within {limit}s")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def cpu_seconds(pid):
    """User + system CPU seconds of a process, all its threads (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def demo_target(tmp):
    """Starts `synthex demo-target` on a free loopback port (log in `tmp`/target.log) and waits
    for its /health, stopping it and ending the bench if it never answers; returns the process
    and its port."""
    port = free_port()
    proc = start([SYNTHEX, "demo-target", f"--listen=127.0.0.1:{port}"], open(os.path.join(tmp, "target.log"), "w"))
    try:
        require_ok(f"http://127.0.0.1:{port}/health")
    except SystemExit:
        stop(proc)
        raise
    return proc, port


def stop(proc):
    """SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_bytes(pid, field="VmRSS"):
    """Resident memory of a process from /proc/PID/status (`VmHWM` for its peak); 0 once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def median_range(values):
    """(median, lowest, highest) of a non-empty list."""
    ordered = sorted(values)
    n = len(ordered)
    mid = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return mid, ordered[0], ordered[-1]


def ratio_text(values, digits=2, suffix=""):
    """'median (range low–high over N rounds)' of per-round ratios."""
    mid, low, high = median_range(values)
    return f"{mid:.{digits}f}{suffix} (range {low:.{digits}f}–{high:.{digits}f}{suffix} over {len(values)} rounds)"


def loadavg():
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
