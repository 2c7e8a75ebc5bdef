#!/bin/sh
# Regenerates src/metrics/proto/io.prometheus.client.rs from the vendored
# proto/io/prometheus/client/metrics.proto (prost types, compiled by protox: no protoc needed).
# Without SYNTHEX_REGENERATE the same test checks that the committed file is current.
set -eu
cd "$(dirname "$0")/.."
SYNTHEX_REGENERATE=1 cargo test --test metrics_proto
