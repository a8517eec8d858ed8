#!/usr/bin/env bash
# Unpack wasmcloud-host 0.27.1 into e2e/.patched and add the recursion_limit attribute that
# rustc >= 1.9x needs to compile it (`queries overflow the depth limit!` in src/wasmbus/ctl.rs).
# e2e/Cargo.toml points a [patch.crates-io] entry at the result. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version="0.27.1"
dest="$here/e2e/.patched/wasmcloud-host-$version"
if [[ -f "$dest/.prepared" ]]; then exit 0; fi

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
find_crate() { ls "$cargo_home"/registry/cache/*/wasmcloud-host-"$version".crate 2>/dev/null | head -n1 || true; }
crate="$(find_crate)"
if [[ -z "$crate" ]]; then
  # Let cargo download it (and warm the registry cache for the real build).
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/src" && echo "" > "$tmp/src/lib.rs"
  cat > "$tmp/Cargo.toml" <<TOML
[package]
name = "fetch-wasmcloud-host"
version = "0.0.0"
edition = "2021"
[dependencies]
wasmcloud-host = "=$version"
TOML
  (cd "$tmp" && cargo fetch --quiet)
  crate="$(find_crate)"
fi
[[ -n "$crate" ]] || { echo "wasmcloud-host-$version.crate not found in cargo cache" >&2; exit 1; }

rm -rf "$dest" && mkdir -p "$(dirname "$dest")"
tar -xzf "$crate" -C "$(dirname "$dest")"
lib="$dest/src/lib.rs"
{ echo '#![recursion_limit = "256"]'; cat "$lib"; } > "$lib.new" && mv "$lib.new" "$lib"
touch "$dest/.prepared"
echo "prepared $dest"
