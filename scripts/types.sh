#!/usr/bin/env bash
# TypeScript declarations of the provider's WIT for component authors (componentize-js guests):
# `types/` holds what `jco guest-types` generates for the worlds `controller` (imports
# lattice-control) and `event-handler` (exports lattice-events).
#   scripts/types.sh           regenerate types/
#   scripts/types.sh --check   fail if types/ differs from what the WIT generates now
# Uses the jco pinned by examples/js-controller (npm ci there when it has no node_modules).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/types.sh [--check]" >&2; exit 2 ;;
esac

example="$here/examples/js-controller"
jco="$example/node_modules/.bin/jco"
if [[ ! -x "$jco" ]]; then
  (cd "$example" && npm ci --no-audit --no-fund --loglevel=error)
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# jco reads the WIT through WASI: give it a path relative to the working directory.
for world in controller event-handler; do
  "$jco" guest-types wit --world-name "$world" -o "$out" -q
done

if [[ $check == 1 ]]; then
  if ! diff -ru types "$out"; then
    echo "types/ is out of date with wit/: run scripts/types.sh and commit the result" >&2
    exit 1
  fi
  echo "types/ matches wit/ ($(find types -name '*.d.ts' | wc -l) declaration files)"
else
  rm -rf types
  cp -r "$out" types
  find types -type f | sort
fi
