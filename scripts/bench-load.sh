#!/usr/bin/env bash
# Performance figures of `synthex load` for the README: installs the references (Debian's wrk and
# nginx-light, Locust from PyPI in a venv under target/bench), builds synthex in release mode, then
# runs scripts/bench_load.py (requests/s on one core vs wrk and Locust on a trivial nginx endpoint,
# p50/p99 at 100 users on a fixed 50 ms endpoint vs wrk, the open model's achieved rate).
# Loopback only; needs 2 cores; takes about 5 minutes. BENCH_SHORT=1 runs a quick version.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # nginx-light is gone from newer Debian releases: fall back to nginx.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
         "${missing[@]/nginx-light/nginx}" >/dev/null
  # The package's own service is not what we measure (bench_load.py runs its own nginx).
  if command -v service >/dev/null 2>&1; then $SUDO service nginx stop >/dev/null 2>&1 || true; fi
fi
VENV=target/bench/locust-venv
if [ ! -x "$VENV/bin/locust" ]; then
  mkdir -p target/bench
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check locust
fi
cargo build --release --locked --quiet
python3 scripts/bench_load.py
