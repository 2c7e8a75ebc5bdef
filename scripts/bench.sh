#!/usr/bin/env bash
# Performance figures for the README: installs the references (Debian's wrk and
# prometheus-blackbox-exporter), builds synthex in release mode, then runs scripts/bench.py
# (latency overhead vs wrk, footprint vs blackbox_exporter, rate accuracy) and the /metrics render
# benchmark. Loopback only; takes about 11 minutes. BENCH_SHORT=1 runs a quick version.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || missing+=(prometheus-blackbox-exporter)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --release --locked --quiet
python3 scripts/bench.py
echo
echo "### /metrics render time"
cargo bench --locked --bench metrics_render 2>/dev/null
