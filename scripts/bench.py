#!/usr/bin/env python3
"""Performance figures of the synthex daemon, each against a reference measured in the same run.

Runs on 127.0.0.1 only, every phase bounded in time. Needs a release build and Debian's `wrk` and
`prometheus-blackbox-exporter` (scripts/bench.sh installs them). Prints a Markdown report (the
README's performance section is a copy of it) and writes it to target/bench/report.md.

Phases:
  1. latency overhead: wrk (1 connection) and synthex (10 requests/s, fresh and pooled connections)
     against the demo target's fixed 50 ms endpoint; p50/p99 of each, in three rounds.
  2. footprint: synthex at 10 requests/s over 3 scenarios with resource sampling on (fresh
     connections, then keep-alive) vs blackbox_exporter probing the same 3 endpoints at the same
     rate, in interleaved rounds; resident memory and CPU seconds per 1000 requests of each
     process, read from /proc, and the median ratio with its range; then the resident memory of
     the example config (config/synthex.yml) over a minute, and where it is (/proc/PID/smaps).
  3. rate accuracy: synthex at 5 requests/s for two whole minutes; sent + skipped per minute, and
     the scenario shares against their weights.
"""

import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT, SHORT, SYNTHEX, cpu_seconds, demo_target, free_port, get, loadavg, ratio_text, rss_bytes, start, stop
from benchlib import require_ok as wait_ok


def samples(text, name):
    """{labels-string: value} of one metric family's samples."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def synthex_config(path, target_port, rate, scenarios, keep_alive=False, watch=False):
    lines = [
        "global:",
        "  quantile_window: 10m",
        "targets:",
        "  - name: bench",
        f"    base_url: http://127.0.0.1:{target_port}",
        f"    rate: {rate}",
        "    timeout: 2s",
        f"    keep_alive: {'true' if keep_alive else 'false'}",
        "    scenarios:",
    ]
    for name, weight, p in scenarios:
        lines += [f"      - name: {name}", f"        weight: {weight}", f"        request: {{path: \"{p}\"}}"]
    if watch:
        lines += ["resources:", "  interval: 5s", "  processes:", "    - {name: target, cmdline: 'synthex demo-target'}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_synthex(tmp, target_port, rate, scenarios, seconds, keep_alive=False, watch=False, on_tick=None):
    cfg = os.path.join(tmp, f"synthex-{time.time_ns()}.yml")
    synthex_config(cfg, target_port, rate, scenarios, keep_alive, watch)
    port = free_port()
    log = open(os.path.join(tmp, "synthex.log"), "a")
    proc = start([SYNTHEX, "run", f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}"], log)
    base = f"http://127.0.0.1:{port}"
    wait_ok(base + "/-/healthy")
    cpu0, t0 = cpu_seconds(proc.pid), time.time()
    if on_tick:
        on_tick(base, t0, seconds)
    else:
        time.sleep(seconds)
    cpu1 = cpu_seconds(proc.pid)
    rss = rss_bytes(proc.pid)
    text = get(base + "/metrics")
    stop(proc)
    return text, cpu1 - cpu0, rss


def wrk_latency(url, seconds):
    out = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    return pct(50), pct(99), reqs


def quantile_ms(text, q, scenario=None):
    for labels, v in samples(text, "synthex_request_latency_seconds").items():
        if f'quantile="{q}"' in labels and (scenario is None or f'scenario="{scenario}"' in labels):
            return v * 1e3
    return float("nan")


def phase_latency(tmp, target_port, report):
    """Three rounds (one when short), each wrk then synthex fresh then pooled, so the spread of
    p99 (the 6th-slowest of 600 requests) between rounds is in the report, not only one draw."""
    secs = 10 if SHORT else 30
    rounds = 1 if SHORT else 3
    url = f"http://127.0.0.1:{target_port}/delay/50"
    rows, worst = [], {}
    for r in range(1, rounds + 1):
        w50, w99, wreqs = wrk_latency(url, secs)
        rows.append((r, "wrk 1 connection (keep-alive)", w50, w99, 0.0, 0.0, wreqs))
        for keep_alive in (False, True):
            text, _, _ = run_synthex(tmp, target_port, "10/s", [("delay", 1, "/delay/50")], secs * 2, keep_alive)
            count = sum(samples(text, "synthex_request_latency_seconds_count").values())
            label = "synthex 10/s, " + ("pooled (keep_alive: true)" if keep_alive else "fresh connection per request")
            p50, p99 = quantile_ms(text, "0.5"), quantile_ms(text, "0.99")
            rows.append((r, label, p50, p99, p50 - w50, p99 - w99, int(count)))
            d50, d99 = worst.get(label, (float("-inf"), float("-inf")))
            worst[label] = (max(d50, p50 - w50), max(d99, p99 - w99))
    report.append("### Latency overhead on a fixed 50 ms endpoint (demo target `/delay/50`)\n")
    report.append("| round | client | p50 ms | p99 ms | Δp50 vs wrk | Δp99 vs wrk | requests |")
    report.append("|---|---|---|---|---|---|---|")
    for r, name, p50, p99, d50, d99, n in rows:
        report.append(f"| {r} | {name} | {p50:.2f} | {p99:.2f} | {d50:+.2f} | {d99:+.2f} | {n} |")
    report.append("")
    for label, (d50, d99) in worst.items():
        report.append(f"- {label}: worst of {rounds} round(s) Δp50 **{d50:+.2f} ms** (goal ≤ +0.8), "
                      f"Δp99 **{d99:+.2f} ms** (goal ≤ +1.5)")
    report.append("")


def blackbox_probe_loop(bb_port, urls, rate, seconds):
    """Drives blackbox_exporter's /probe at `rate` per second, round-robin over `urls`, over one
    kept-alive connection as Prometheus scrapes it."""
    period, t0, n = 1.0 / rate, time.time(), 0
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", bb_port, timeout=5)
    while time.time() - t0 < seconds:
        due = t0 + n * period
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        target = urls[n % len(urls)]
        try:
            conn.request("GET", f"/probe?module=http_2xx&target={target}")
            body = conn.getresponse().read().decode()
            if "probe_success 1" not in body:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
        n += 1
    conn.close()
    return n, errors


def run_blackbox(tmp, target_port, seconds):
    """blackbox_exporter probing the footprint phase's 3 endpoints at 10/s: CPU s, requests,
    failures, resident memory."""
    bb_cfg = os.path.join(tmp, "blackbox.yml")
    with open(bb_cfg, "w") as f:
        f.write("modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n")
    bb_port = free_port()
    log = open(os.path.join(tmp, "blackbox.log"), "w")
    bb = start(["prometheus-blackbox-exporter", f"--config.file={bb_cfg}", f"--web.listen-address=127.0.0.1:{bb_port}"], log)
    wait_ok(f"http://127.0.0.1:{bb_port}/-/healthy")
    base = f"http://127.0.0.1:{target_port}"
    urls = [f"{base}/orders/1", f"{base}/cache/1", f"{base}/health"]
    cpu0 = cpu_seconds(bb.pid)
    probes, errors = blackbox_probe_loop(bb_port, urls, 10, seconds)
    bb_cpu = cpu_seconds(bb.pid) - cpu0
    bb_rss = rss_bytes(bb.pid)
    stop(bb)
    return bb_cpu, probes, errors, bb_rss


def example_config(tmp, target_port):
    """config/synthex.yml (the example config, every option) with its targets pointed at the
    demo target, whose endpoints it then probes at its own rates."""
    with open(os.path.join(ROOT, "config", "synthex.yml")) as f:
        text = f.read()
    text = re.sub(r"https?://127\.0\.0\.1:\d+", f"http://127.0.0.1:{target_port}", text)
    text = re.sub(r"^(\s+)proxy: .*$", "", text, flags=re.M)
    path = os.path.join(ROOT, "config", f".bench-example-{os.getpid()}.yml")  # relative paths resolve
    with open(path, "w") as f:
        f.write(text)
    return path


def phase_footprint(tmp, target_port, report):
    """Interleaved rounds of synthex (fresh connections), synthex (keep-alive) and
    blackbox_exporter, each probing the same 3 endpoints at 10/s; per round the ratio of synthex's
    CPU per request to blackbox_exporter's, reported as the median with its range."""
    # Long enough that start-up (config load, first connections, the sampler's first two CPU
    # refreshes) is a small share of the CPU per request: 450-600 requests per run at 10/s.
    secs = 45 if SHORT else 60
    rounds = int(os.environ.get("BENCH_ROUNDS", "1" if SHORT else "3"))
    scenarios = [("orders", 2, "/orders/{{ int 1..1000 }}"), ("cached", 1, "/cache/{{ int 1..50 }}"), ("health", 1, "/health")]
    load = loadavg()
    rows, ratios = [], {False: [], True: []}
    for r in range(1, rounds + 1):
        bb_cpu, probes, errors, bb_rss = run_blackbox(tmp, target_port, secs)
        b_per_k = bb_cpu / probes * 1000 if probes else float("nan")
        rows.append((r, "blackbox_exporter 0.23", bb_rss, b_per_k, f"{probes} ({errors} failed)", ""))
        for keep_alive in (False, True):
            text, cpu, rss = run_synthex(tmp, target_port, "10/s", scenarios, secs, keep_alive=keep_alive, watch=True)
            sent = sum(samples(text, "synthex_requests_total").values())
            s_per_k = cpu / sent * 1000 if sent else float("nan")
            ratios[keep_alive].append(s_per_k / b_per_k)
            name = "synthex, " + ("keep-alive" if keep_alive else "fresh connection per request")
            rows.append((r, name, rss, s_per_k, str(int(sent)), f"{s_per_k / b_per_k:.2f}×"))
    load_after = loadavg()
    report.append(f"### Footprint at 10 requests/s over 3 scenarios, {secs} s per run, resource sampling on\n")
    report.append(f"{rounds} interleaved rounds of blackbox_exporter, synthex with a fresh connection per request (the "
                  f"default) and synthex with `keep_alive: true`, probing the same endpoints of the demo target at the "
                  f"same rate; CPU and resident memory from /proc. Load average before/after: {load} / {load_after}.\n")
    report.append("| round | process | resident memory MiB | CPU s per 1000 requests | requests | CPU per request vs blackbox_exporter |")
    report.append("|---|---|---|---|---|---|")
    for r, name, rss, per_k, n, ratio in rows:
        report.append(f"| {r} | {name} | {rss / 2**20:.1f} | {per_k:.3f} | {n} | {ratio} |")
    rss_all = [rss for _, name, rss, _, _, _ in rows if name.startswith("synthex")]
    report.append(f"\nsynthex CPU per request vs blackbox_exporter's, median of the rounds: fresh connections "
                  f"**{ratio_text(ratios[False], 2, '×')}**, keep-alive **{ratio_text(ratios[True], 2, '×')}** (goal ≤ 0.2×); "
                  f"synthex resident memory {min(rss_all) / 2**20:.1f}–{max(rss_all) / 2**20:.1f} MiB.\n")

    # The example config, every option, probing the demo target: resident memory over time.
    path = example_config(tmp, target_port)
    try:
        port = free_port()
        log = open(os.path.join(tmp, "synthex-example.log"), "w")
        env = dict(os.environ, API_TOKEN="bench", API_KEY="bench")
        proc = subprocess.Popen([SYNTHEX, "run", f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        try:
            wait_ok(f"http://127.0.0.1:{port}/-/healthy")
            seen = []
            for _ in range(secs // 5):
                time.sleep(5)
                get(f"http://127.0.0.1:{port}/metrics")  # scraped, as Prometheus would
                seen.append(rss_bytes(proc.pid))
            where = resident_parts(proc.pid)
        finally:
            stop(proc)
    finally:
        os.unlink(path)
    report.append(f"Resident memory with the example config (config/synthex.yml, its targets pointed at the demo target, "
                  f"scraped every 5 s), {secs} s: after 5 s {seen[0] / 2**20:.1f} MiB, at the end "
                  f"**{seen[-1] / 2**20:.1f} MiB**, highest {max(seen) / 2**20:.1f} MiB (goal ≤ 10 MB); at the end "
                  f"synthex's code {where['code'] / 2**20:.1f} MiB, its other file pages {where['binary'] / 2**20:.1f} MiB, "
                  f"shared libraries {where['libraries'] / 2**20:.1f} MiB, anonymous {where['anonymous'] / 2**20:.1f} MiB "
                  f"(/proc/PID/smaps){outside_text(where)}.\n")


def resident_parts(pid):
    """Resident bytes of a process by kind, from /proc/PID/smaps: its executable's code mapping,
    the executable's other mappings, other files (shared libraries), anonymous memory; and of the
    code, how much lies outside the daemon's section (link/daemon.ld), from /proc/PID/pagemap:
    more than a few hundred KiB there means the list no longer names what the daemon runs."""
    exe = os.path.realpath(f"/proc/{pid}/exe")
    parts = {"code": 0, "binary": 0, "libraries": 0, "anonymous": 0}
    kind, load_bias = None, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
                path = fields[5] if len(fields) > 5 else ""
                if path == exe:
                    kind = "code" if "x" in fields[1] else "binary"
                    start, offset = int(fields[0].split("-")[0], 16), int(fields[2], 16)
                    load_bias = start - offset if load_bias is None else min(load_bias, start - offset)
                else:
                    kind = "libraries" if path.startswith("/") else "anonymous"
            elif fields[0] == "Rss:":
                parts[kind] += int(fields[1]) * 1024
    parts["code outside the daemon section"] = resident_outside_daemon_section(pid, exe, load_bias)
    return parts


def resident_outside_daemon_section(pid, exe, load_bias):
    """Resident bytes of `exe`'s `.text` (the code link/daemon.ld did not place first); None for a
    build without the daemon's section."""
    headers = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    found = re.search(r"\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", headers)
    if ".text.synthex_daemon" not in headers or not found:
        return None
    address, size = int(found.group(1), 16), int(found.group(2), 16)
    first, last = (load_bias + address) // 4096, (load_bias + address + size - 1) // 4096
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(first * 8)
        entries = f.read((last - first + 1) * 8)
    present = sum(1 for i in range(0, len(entries), 8) if entries[i + 7] & 0x80)  # bit 63
    return present * 4096


def outside_text(where):
    outside = where["code outside the daemon section"]
    if outside is None:
        return "; this build has no daemon section (link/daemon.ld not applied)"
    return f"; of the code, {outside / 2**20:.2f} MiB outside the daemon's section (/proc/PID/pagemap)"



def phase_rate(tmp, target_port, report):
    minutes = 1 if SHORT else 2
    weights = [("a", 50, "/health"), ("b", 25, "/orders/1"), ("c", 25, "/cache/1")]
    snapshots = []

    def tick(base, t0, seconds):
        # First snapshot after the first period, then one per whole minute.
        for k in range(minutes + 1):
            at = t0 + 3 + 60 * k
            time.sleep(max(0.0, at - time.time()))
            text = get(base + "/metrics")
            sent = sum(samples(text, "synthex_requests_total").values())
            skipped = sum(samples(text, "synthex_requests_skipped_total").values())
            snapshots.append((time.time(), sent, skipped, text))

    text, _, _ = run_synthex(tmp, target_port, "5/s", weights, 60 * minutes + 5, on_tick=tick)
    report.append("### Rate accuracy at 5 requests/s (300 per minute scheduled)\n")
    report.append("| minute | sent | skipped | sent + skipped | error vs schedule |")
    report.append("|---|---|---|---|---|")
    for k in range(1, len(snapshots)):
        (t_a, s_a, k_a, _), (t_b, s_b, k_b, _) = snapshots[k - 1], snapshots[k]
        total = (s_b - s_a) + (k_b - k_a)
        expected = 5 * (t_b - t_a)
        report.append(f"| {k} | {int(s_b - s_a)} | {int(k_b - k_a)} | {int(total)} | {100 * (total - expected) / expected:+.2f} % |")
    final = samples(snapshots[-1][3], "synthex_requests_total")
    total = sum(final.values())
    shares = []
    for name, weight, _ in weights:
        n = sum(v for k, v in final.items() if f'scenario="{name}"' in k)
        shares.append(f"{name}: {100 * n / total:.1f} % (weight {weight} %)")
    report.append("\nScenario shares: " + ", ".join(shares) + "\n")


def main():
    for tool in ("wrk", "prometheus-blackbox-exporter"):
        if not shutil.which(tool):
            sys.exit(f"{tool} missing: run scripts/bench.sh, which installs it")
    if not os.path.exists(SYNTHEX):
        sys.exit("no release build: run scripts/bench.sh")
    tmp = tempfile.mkdtemp(prefix="synthex-bench-")
    target, target_port = demo_target(tmp)
    try:
        cpu = open("/proc/cpuinfo").read()
        model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
        report = [f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({model}), loopback, release build.\n"]
        # BENCH_PHASES=footprint (or a comma-separated list of latency, footprint, rate) runs
        # only those phases.
        chosen = os.environ.get("BENCH_PHASES", "latency,footprint,rate").split(",")
        for phase in (phase_latency, phase_footprint, phase_rate):
            if phase.__name__.removeprefix("phase_") not in chosen:
                continue
            phase(tmp, target_port, report)
            print("\n".join(report), flush=True) if os.environ.get("BENCH_VERBOSE") else None
    finally:
        stop(target)
    text = "\n".join(report)
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "report.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
