#!/usr/bin/env bash
# Quick start: install what is missing, then build and run Pulse on the embedded store in
# ./data. The first start creates a demo admin and a demo website and prints the login.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# the release build: split, precompressed WASM (a debug page loads ~11 MB of it)
exec cargo leptos serve --release --split --precompress "$@"
