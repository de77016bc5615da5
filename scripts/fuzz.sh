#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), after writing the
# seed corpora. Needs cargo-fuzz (`cargo install cargo-fuzz`). The stable
# toolchain is used with RUSTC_BOOTSTRAP=1 for the sanitizer flags.
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1
cargo run -q --bin seeds
for target in netcode_datagram payload_guard client_message server_message snapshot connect_token login_body; do
    echo "== $target ($seconds s)"
    cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
        | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)" || true
done
