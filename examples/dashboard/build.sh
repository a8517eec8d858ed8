#!/usr/bin/env bash
# Builds the dashboard component: dist/dashboard.wasm.
# src/page.html is inlined into src/dashboard.js as a string (dist/dashboard.js), which
# componentize-js turns into a component exporting wasi:http/incoming-handler@0.2.10.
# The provider's WIT is not copied: wit/deps/lattice-control is a symlink to ../../wit;
# wit/deps/wasi-* are jco 1.35's WASI 0.2.12 WIT with the version set to 0.2.10, the one
# version componentize-js 0.23 exports.
set -euo pipefail
cd "$(dirname "$0")"

if ! ls wit/deps/lattice-control/*.wit >/dev/null 2>&1; then
    echo "build.sh: wit/deps/lattice-control (-> ../../wit) holds no WIT files" >&2
    exit 1
fi
# The page and its script are served as one response; keep it small.
max_page=$((64 * 1024))
page_size=$(stat -c %s src/page.html)
if (( page_size >= max_page )); then
    echo "build.sh: src/page.html is $page_size bytes, over the $max_page-byte budget" >&2
    exit 1
fi
mkdir -p dist

now() { date +%s.%N; }
t0=$(now)
npm ci --no-audit --no-fund --loglevel=error
t1=$(now)
node -e '
const fs = require("fs");
const page = fs.readFileSync("src/page.html", "utf8");
const js = fs.readFileSync("src/dashboard.js", "utf8");
const line = "import { PAGE } from \x27./page.js\x27;";
if (!js.includes(line)) { console.error("build.sh: src/dashboard.js lacks the line " + line); process.exit(1); }
fs.writeFileSync("dist/dashboard.js", js.replace(line, "const PAGE = " + JSON.stringify(page) + ";"));
'
npx componentize-js dist/dashboard.js \
    --wit wit --world-name dashboard \
    -o dist/dashboard.wasm
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v size="$(stat -c %s dist/dashboard.wasm)" -v page="$page_size" \
    'BEGIN { printf "build.sh: npm ci %.1f s, componentize %.1f s, %d bytes (page %d bytes)\n", b - a, c - b, size, page }'
