#!/usr/bin/env bash
# Soak test of the daemon (issue #8 §6): 200 requests/s against a fault target that rotates
# through refusing connections, hanging past the timeout, 500 with a large body, resetting
# mid-body and healthy, while 50 scrapers read /metrics once a second each. Samples resident
# memory, open file descriptors and scrape time every 10 s; fails (exit 1) if memory after the
# first minute moves more than ±10 %, if descriptors grow (the fewest open in a minute rises
# by more than 2), or if a scrape takes over 1 s.
# Loopback only. Usage: scripts/soak.sh [--minutes N] (default 10, at least 2).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="${2:?--minutes needs a number}"; shift 2 ;;
    --minutes=*) minutes="${1#*=}"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (expected --minutes N)" >&2; exit 2 ;;
  esac
done
case "$minutes" in
  ''|*[!0-9]*) echo "soak.sh: --minutes $minutes: expected a whole number of minutes, at least 2" >&2; exit 2 ;;
esac
if [ "$minutes" -lt 2 ]; then
  echo "soak.sh: --minutes $minutes: expected at least 2 (the first minute is the warm-up)" >&2
  exit 2
fi
cargo build --release --locked --quiet
exec python3 scripts/soak.py "$minutes"
