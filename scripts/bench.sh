#!/usr/bin/env bash
# Benchmarks (release build): ingest throughput, track→WebSocket latency and memory per idle
# connection, each beside a baseline measured in the same run. Takes ~3 min after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo bench --features ssr --bench pulse_bench
