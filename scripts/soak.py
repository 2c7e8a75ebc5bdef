"""The soak test behind scripts/soak.sh: a rotating fault target (asyncio, a real server on
127.0.0.1), the release daemon at 200 requests/s against it, 50 scrapers and a sampler of the
daemon's /proc entries. Prints a sample every 10 s, then the verdict and a Markdown summary."""

import asyncio
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.request

from benchlib import SYNTHEX, free_port, require_ok, start, stop

RATE = 200
TIMEOUT_S = 1
HANG_S = 3  # past the timeout
PHASE_S = 12  # five phases: one rotation a minute, so samples fall on the same phases each minute
MODES = ["healthy", "refusing", "hanging", "error_large_body", "reset_mid_body"]
LARGE_BODY = b"x" * (2 * 1024 * 1024)  # over the 1 MiB body cap
SCRAPERS = 50
SAMPLE_S = 10
MEMORY_BAND = 0.10
FD_SLACK = 2  # growth of the per-minute floor of open descriptors that still passes
SCRAPE_LIMIT_S = 1.0


class FaultTarget:
    """Answers according to the phase of a 60 s rotation; refuses by closing its listener."""

    def __init__(self, port):
        self.port = port
        self.started = time.monotonic()
        self.served = {mode: 0 for mode in MODES}

    def mode(self):
        return MODES[int((time.monotonic() - self.started) / PHASE_S) % len(MODES)]

    async def handle(self, reader, writer):
        mode = self.mode()
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.served[mode] += 1
            if mode == "hanging":
                await asyncio.sleep(HANG_S)
            elif mode == "error_large_body":
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(LARGE_BODY)
                )
                writer.write(LARGE_BODY)
                await writer.drain()
            elif mode == "reset_mid_body":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"y" * 1000)
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def run(self, stop_event):
        server = None
        while not stop_event.is_set():
            refusing = self.mode() == "refusing"
            if refusing and server is not None:
                server.close()
                await server.wait_closed()
                server = None
            elif not refusing and server is None:
                server = await asyncio.start_server(
                    self.handle, "127.0.0.1", self.port, reuse_address=True, backlog=1024
                )
            await asyncio.sleep(0.05)
        if server is not None:
            server.close()


def serve_target(target, stop_event):
    asyncio.run(target.run(stop_event))


def scraper(url, stop_event, times, errors, lock):
    """Reads /metrics once a second, recording how long each read took."""
    while not stop_event.is_set():
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()
            took = time.monotonic() - began
            with lock:
                times.append(took)
        except OSError as error:
            with lock:
                errors.append(str(error))
        stop_event.wait(max(0.0, 1.0 - (time.monotonic() - began)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric_sum(text, name, label=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    minutes = int(sys.argv[1])
    target_port, web_port = free_port(), free_port()
    stop_event = threading.Event()
    target = FaultTarget(target_port)
    threading.Thread(target=serve_target, args=(target, stop_event), daemon=True).start()

    work = tempfile.mkdtemp(prefix="synthex-soak-")
    config = os.path.join(work, "soak.yml")
    with open(config, "w") as f:
        f.write(
            f"""targets:
  - name: faulty
    base_url: http://127.0.0.1:{target_port}
    rate: {RATE}/s
    timeout: {TIMEOUT_S}s
    max_in_flight: 250
    scenarios:
      - {{name: rotate, request: {{path: /}}}}
"""
        )
    log = open(os.path.join(work, "synthex.log"), "w")
    daemon = start(
        [SYNTHEX, "run", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{web_port}"],
        log,
    )
    base = f"http://127.0.0.1:{web_port}"
    require_ok(f"{base}/-/healthy")

    times, errors, lock = [], [], threading.Lock()
    for _ in range(SCRAPERS):
        threading.Thread(
            target=scraper, args=(f"{base}/metrics", stop_event, times, errors, lock), daemon=True
        ).start()

    samples = []  # (seconds, rss KiB, fds, scrapes, max scrape s, mode)
    began = time.monotonic()
    print(f"soak: {minutes} min, {RATE}/s, {SCRAPERS} scrapers, log in {work}", flush=True)
    print(f"{'t':>5} {'mode':>16} {'RSS MiB':>8} {'fds':>5} {'scrapes':>7} {'max scrape':>10}")
    try:
        for n in range(1, minutes * 60 // SAMPLE_S + 1):
            time.sleep(max(0.0, began + n * SAMPLE_S - time.monotonic()))
            if daemon.poll() is not None:
                sys.exit(f"soak: synthex exited with {daemon.returncode}; see {work}/synthex.log")
            with lock:
                window, times[:] = times[:], []
            sample = (
                n * SAMPLE_S,
                rss_kib(daemon.pid),
                fds(daemon.pid),
                len(window),
                max(window, default=0.0),
                target.mode(),
            )
            samples.append(sample)
            print(
                f"{sample[0]:>5} {sample[5]:>16} {sample[1] / 1024:>8.1f} {sample[2]:>5} "
                f"{sample[3]:>7} {sample[4] * 1000:>8.1f}ms",
                flush=True,
            )
        final = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    finally:
        stop_event.set()
        stop(daemon)
    verdict(samples, errors, final, target, minutes)


def verdict(samples, errors, final, target, minutes):
    per_minute = 60 // SAMPLE_S
    warm = [s for s in samples if s[0] >= 60]
    base_rss = warm[0][1]
    rss = [s[1] for s in warm]
    drift = max(abs(r - base_rss) / base_rss for r in rss)
    # Descriptors: the hanging and large-body phases hold up to max_in_flight sockets by design,
    # and a sample near a phase change catches some of them still closing. A leak raises the
    # floor: compare each minute's fewest open descriptors with the first minute after the
    # warm-up's.
    floors = [min(s[2] for s in warm[i : i + per_minute]) for i in range(0, len(warm), per_minute)]
    fd_growth = max(floor - floors[0] for floor in floors)
    slowest = max(s[4] for s in samples)
    scrapes = sum(s[3] for s in samples)
    failures = []
    if drift > MEMORY_BAND:
        failures.append(f"resident memory moved {drift:.1%} from {base_rss / 1024:.1f} MiB")
    if fd_growth > FD_SLACK:
        failures.append(f"the fewest open descriptors in a minute grew by {fd_growth}: {floors}")
    if slowest > SCRAPE_LIMIT_S:
        failures.append(f"a scrape took {slowest:.3f} s")
    if errors:
        failures.append(f"{len(errors)} scrapes failed, first: {errors[0]}")

    requests = metric_sum(final, "synthex_requests_total")
    print()
    print(f"### Soak: {minutes} min, {RATE} requests/s, {SCRAPERS} scrapers (scripts/soak.sh)")
    print()
    print("| | |")
    print("|---|---|")
    print(f"| resident memory after 1 min | {base_rss / 1024:.1f} MiB, range {min(rss) / 1024:.1f}–{max(rss) / 1024:.1f} MiB (largest move {drift:.1%}) |")
    print(f"| open descriptors | {min(s[2] for s in warm)}–{max(s[2] for s in warm)}; fewest per minute {floors} |")
    print(f"| scrapes | {scrapes} ({len(errors)} failed), slowest {slowest * 1000:.1f} ms |")
    print(f"| requests finished | {requests:.0f}; skipped {metric_sum(final, 'synthex_requests_skipped_total'):.0f} |")
    reasons = ", ".join(
        "%s %.0f" % (reason, metric_sum(final, "synthex_request_failures_total", 'reason="%s"' % reason))
        for reason in ["connect", "timeout", "http_status", "body", "other"]
    )
    print(f"| failures by reason | {reasons} |")
    print("| served by the target | " + ", ".join(f"{m} {c}" for m, c in target.served.items()) + " |")
    print()
    if failures:
        print("FAIL: " + "; ".join(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
