#!/usr/bin/env bash
# Builds the browser client (web/, crate tickforge-web) into web/dist, which
# the auth API serves at /play/: the wasm module and its JS glue from
# wasm-bindgen, the page and its script from web/static, and a .gz of each
# (sent to browsers that take gzip). Installs what it needs on a fresh
# machine: the wasm32-unknown-unknown target, and wasm-bindgen-cli at
# exactly the version of the wasm-bindgen crate in Cargo.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
[ -n "$version" ] || { echo "build-web.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "== rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')" != "$version" ]; then
    echo "== cargo install wasm-bindgen-cli $version (once per machine; about 3 minutes on 2 cores)"
    # Its own lock first; where the registry lacks a version that lock
    # names, the newest compatible ones. Cargo's progress (a line per crate)
    # shows; --force: an install whose binaries went missing counts as none.
    if ! cargo install --force wasm-bindgen-cli --version "=$version" --locked; then
        echo "== the lock of wasm-bindgen-cli names a version the registry lacks: without --locked"
        cargo install --force wasm-bindgen-cli --version "=$version"
    fi
fi

echo "== cargo build -p tickforge-web (wasm32, profile web)"
cargo build -p tickforge-web --target wasm32-unknown-unknown --profile web --locked
out=web/dist
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$out" target/wasm32-unknown-unknown/web/tickforge_web.wasm
cp web/static/* "$out"/
for file in "$out"/*; do
    gzip -9 -k -n -f "$file"
done
total=$(cat "$out"/*.wasm.gz "$out"/*.js.gz | wc -c)
echo "web/dist: wasm $(wc -c <"$out"/tickforge_web_bg.wasm) B ($(wc -c <"$out"/tickforge_web_bg.wasm.gz) B gzipped); wasm + JS gzipped: $((total / 1024)) KiB"
