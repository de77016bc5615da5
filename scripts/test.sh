#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh
# machine, then runs the whole suite. The tests start their own throwaway
# PostgreSQL server (Debian's binaries, as the postgres user) on a free
# loopback port, and the cluster tests a throwaway nginx (Debian's) as the
# gateway; the load-test smoke tests drive scripts/loadtest.sh, which
# needs curl and jq. The browser tests (web/tests, node's test runner)
# drive Debian's Chromium with playwright-core (from web/package-lock.json)
# against the page scripts/build-web.sh builds (which adds the wasm target
# and wasm-bindgen-cli). deploy/kubernetes is validated offline
# (scripts/check-manifests.sh). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
# scripts/heap-profile.sh (server/tests/heap_profile.rs).
command -v heaptrack >/dev/null || need+=(heaptrack)
# scripts/cpu-profile.sh (server/tests/cpu_profile.rs).
command -v perf >/dev/null || need+=(linux-perf)
# pkill: the database-cluster tests kill a PostgreSQL and its backends.
command -v pkill >/dev/null || need+=(procps)
# scripts/check-manifests.sh: a virtual environment for its checkers.
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
for tool in curl jq runuser; do
    command -v "$tool" >/dev/null || need+=("$([ "$tool" = runuser ] && echo util-linux || echo "$tool")")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "== installing ${need[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || {
    echo "test.sh: PostgreSQL's initdb is still missing after the install" >&2
    exit 1
}
[ -x /usr/sbin/nginx ] || {
    echo "test.sh: nginx is still missing after the install" >&2
    exit 1
}

[ -x /usr/bin/chromium ] || {
    echo "test.sh: Chromium is still missing after the install" >&2
    exit 1
}

echo "== the Kubernetes manifests and YAML (scripts/check-manifests.sh)"
bash scripts/check-manifests.sh

echo "== the page (scripts/build-web.sh)"
bash scripts/build-web.sh
echo "== node modules of the browser tests (npm ci)"
npm ci --prefix web --no-audit --no-fund --loglevel=error

echo "== cargo test --workspace"
cargo test --workspace --locked "$@"

echo "== browser tests (node --test web/tests)"
cargo build -q --locked -p tickforge-server -p tickforge-client
(cd web && node --test tests/)
