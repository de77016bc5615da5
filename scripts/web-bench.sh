#!/usr/bin/env bash
# The browser client's figures (BENCHMARKS.md): page weight, load to first
# frame, frame cost at ~150 entities in view, bytes to a browser vs a
# native client at the same view. Release binaries, the page's build, and
# headless Chromium (as scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p tickforge-server -p tickforge-client
bash scripts/build-web.sh
[ -d web/node_modules/playwright-core ] || npm ci --prefix web --no-audit --no-fund --loglevel=error
cd web && TICKFORGE_PROFILE=release node bench/page.mjs
