#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (Debian's prometheus for
# promtool and the end-to-end scrape, prometheus-alertmanager for amtool and the alerting test,
# chromium to open the HTML load-test report), then runs the format check, clippy and every test.
# Usage: scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# tests/nginx_e2e.rs runs Debian's nginx (its own config and prefix in a temp dir) as the truth.
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
# Real TLS clients and certificate tooling for the secured-endpoint tests.
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v prlimit >/dev/null 2>&1 || need_apt+=(util-linux)
# tests/compare_baselines.rs validates the GitHub issue payload against its JSON Schema.
/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 || need_apt+=(python3-jsonschema)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "==> check-config on every shipped config"
cargo build --locked --quiet
for f in config/*.yml; do
  case "$f" in
    # exporter-toolkit web configs: tests/web_cli.rs runs promtool check web-config on them
    # beside the certificate files they name.
    config/web-config*.yml) ;;
    *) ./target/debug/synthex check-config "$f" >/dev/null || { echo "check-config failed on $f"; exit 1; } ;;
  esac
done
echo "==> cargo test"
cargo test --locked -- --test-threads="${SYNTHEX_TEST_THREADS:-2}"
echo "==> edge tests, one at a time (#[ignore]d in the parallel run above)"
cargo test --locked -- --ignored --test-threads=1
