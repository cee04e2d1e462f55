#!/usr/bin/env bash
# Every test: install what is missing, then Rust unit + integration tests, clippy, the
# wasm (hydrate) build check, and Playwright end-to-end in Debian Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

say "clippy (server and browser builds)"
cargo clippy --features ssr --all-targets -- -D warnings
cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings

say "Rust unit and integration tests (embedded store)"
cargo test --features ssr

say "the ScyllaDB backend on a real CQL server (Apache Cassandra 5.0, started here)"
CQL_DIR=$(mktemp -d)
# not 19042: that is the storage port of a node on the default 9042 (cassandra.sh: CQL + 10000)
CQL_PORT=${PULSE_TEST_CQL_PORT:-19142}
cleanup_cql() { scripts/cassandra.sh stop "$CQL_DIR" >/dev/null 2>&1 || true; rm -rf "$CQL_DIR"; }
trap cleanup_cql EXIT
scripts/cassandra.sh start "$CQL_DIR" "$CQL_PORT"
export PULSE_TEST_CQL="127.0.0.1:$CQL_PORT"
# the store conformance suite on both backends, then with the server on ScyllaDB: the live path
# (ingest -> WS/SSE -> resume by cursor and Last-Event-ID, restart, kill -9), history, and the
# reports against a brute-force count (DST days included) and `pulse import`
cargo test --features ssr --test store_conformance -- --include-ignored
PULSE_TEST_STORE=scylla cargo test --features ssr --test live --test restart --test history --test durability --test analytics
# last and alone: stops and restarts the node under load (503, /health, notices, recovery)
PULSE_TEST_STORE=scylla PULSE_TEST_CQL_DIR="$CQL_DIR" cargo test --features ssr --test store_outage -- --ignored
cleanup_cql
trap - EXIT

say "end-to-end (cargo leptos builds the release server + split, precompressed wasm, starts it, runs Playwright)"
E2E_DIR=$(mktemp -d)
trap 'rm -rf "$E2E_DIR"' EXIT
export PULSE_DATA_DIR="$E2E_DIR/data"
export PULSE_ADDR="127.0.0.1:${PULSE_E2E_PORT:-3217}"
export PULSE_E2E_BASE="http://$PULSE_ADDR"
export PULSE_DEMO_PASSWORD="e2e-password-$$"
export PULSE_CONFIG="$E2E_DIR/none.toml"   # defaults, not the developer's Leptos.toml
# access tokens of 20 s: every end-to-end test runs through in-band token refreshes
export PULSE_ACCESS_TOKEN_SECS=20
cargo leptos end-to-end --release --split --precompress

# the size budget of the Realtime page's first load (issue 8: <= 250 KB), checked on the build
# the end-to-end run just served: the main WASM module, brotli, as browsers download it
say "WASM budget: the Realtime page's first load"
main_br=$(ls -t target/site/pkg/pulse.*.wasm.br | head -n 1)
size=$(stat -c %s "$main_br")
budget=${PULSE_WASM_BUDGET:-250000}
echo "main module $(basename "$main_br"): $size bytes brotli (budget $budget)"
if [ "$size" -gt "$budget" ]; then
  echo "over budget: the Realtime page's first load grew past $budget bytes (README, Delivery of the app)" >&2
  exit 1
fi
say "all tests passed"
