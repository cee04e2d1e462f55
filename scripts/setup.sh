#!/usr/bin/env bash
# Installs what Pulse needs to build and run, skipping whatever is already there.
#   scripts/setup.sh          build tools (wasm target, cargo-leptos, wasm-bindgen-cli, npm tools)
#   scripts/setup.sh --test   the above plus Debian Chromium and Playwright for end-to-end tests,
#                             and JDK 17 + Maven for the Cassandra node the ScyllaDB tests use
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs rustc 1.96
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

command -v cargo >/dev/null || { echo "error: Rust is not installed (https://rustup.rs)"; exit 1; }
command -v npm >/dev/null || { echo "error: Node.js 20+ with npm is required"; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# the ScyllaDB driver's TLS links the system's OpenSSL
if ! pkg-config --exists openssl 2>/dev/null; then
  say "installing OpenSSL headers and pkg-config (TLS to ScyllaDB)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~15 min the first time)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ]; then
  say "installing wasm-bindgen-cli $WBG_VERSION"
  # not --locked: its lockfile pins a crate version the registry no longer serves
  cargo install wasm-bindgen-cli --version "$WBG_VERSION"
fi

# Tailwind, wasm-opt and the country database (cargo-leptos puts node_modules/.bin on PATH).
if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm build tools"
  npm install --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--test" ]; then
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian Chromium for Playwright"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
  # the ScyllaDB backend's tests run against Apache Cassandra (scripts/cassandra.sh): JDK 17
  # and Maven to fetch its jars
  if ! ls /usr/lib/jvm/*17*/bin/java >/dev/null 2>&1 || ! command -v mvn >/dev/null; then
    say "installing JDK 17 and Maven for the Cassandra test node"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing Playwright (without its own browser download)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error)
  fi
fi
