#!/usr/bin/env bash
# Benchmarks (issue 8): builds the release provider binary and the bench, runs the bench on a
# real lattice (nats-server on loopback, three in-process hosts), prints a markdown report and
# writes it to bench-results.md.
#   scripts/bench.sh [--quick] [--out FILE] [--calls N] [--churn N | --churn-steps N,N,…] [--only SECTION,…]
# With LATTICE_CONTROL_PROVIDER_BIN set, that provider binary is measured instead of building
# this tree's (e.g. a release build of an older commit, for a before/after comparison).
# Needs `nats-server` on PATH (or $NATS_SERVER_BIN); `perf` is used for the profile if present.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

start=$SECONDS
"$here/scripts/prepare-host.sh"
provider_bin="${LATTICE_CONTROL_PROVIDER_BIN:-}"
if [[ -z "$provider_bin" ]]; then
  echo "==> building the release provider binary" >&2
  cargo build --release --quiet --bin lattice-control-provider
  provider_bin="$CARGO_TARGET_DIR/release/lattice-control-provider"
fi
echo "==> building the bench (release)" >&2
(cd e2e && cargo build --release --quiet --bin lattice-bench)
echo "==> built in $((SECONDS - start)) s" >&2

out="$here/bench-results.md"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
# stderr carries the hosts' and the provider's logs: keep them out of the report
log="$CARGO_TARGET_DIR/lattice-bench.log"
echo "==> running the bench (logs: $log)" >&2
if ! LATTICE_CONTROL_PROVIDER_BIN="$provider_bin" \
  "$CARGO_TARGET_DIR/release/lattice-bench" --out "$out" "${args[@]}" 2>"$log"; then
  echo "bench failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
echo "==> done in $((SECONDS - start)) s" >&2
