#!/usr/bin/env bash
# Builds the example component: dist/autoscaler.wasm.
# The provider's WIT is not copied: wit/deps/lattice-control is a symlink to ../../wit.
set -euo pipefail
cd "$(dirname "$0")"

if ! ls wit/deps/lattice-control/*.wit >/dev/null 2>&1; then
    echo "build.sh: wit/deps/lattice-control (-> ../../wit) holds no WIT files" >&2
    exit 1
fi
mkdir -p dist

now() { date +%s.%N; }
t0=$(now)
npm ci --no-audit --no-fund --loglevel=error
t1=$(now)
# src/autoscaler.js imports ./decide.js: componentize-js follows relative imports.
npx componentize-js src/autoscaler.js \
    --wit wit --world-name autoscaler \
    --disable http --disable fetch-event \
    -o dist/autoscaler.wasm
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v size="$(stat -c %s dist/autoscaler.wasm)" \
    'BEGIN { printf "build.sh: npm ci %.1f s, componentize %.1f s, %d bytes\n", b - a, c - b, size }'
