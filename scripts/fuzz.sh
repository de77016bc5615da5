#!/usr/bin/env bash
# Runs fuzz targets for SECONDS each (default 60), after writing the seed
# corpora; all targets unless some are named. Exits non-zero if any target
# crashed (the crashing input is kept under fuzz/artifacts/TARGET/).
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The stable toolchain is
# used with RUSTC_BOOTSTRAP=1 for the sanitizer flags.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(netcode_datagram payload_guard client_message server_message snapshot connect_token login_body replay)
fi
export RUSTC_BOOTSTRAP=1
echo "== the seed corpora (cargo run --bin seeds; cold: a few minutes)"
cargo run -q --bin seeds || exit 1
failed=()
for target in "${targets[@]}"; do
    echo "== $target ($seconds s; the first build of the fuzz targets takes several minutes)"
    cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
        | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)"
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then
        echo "!! $target exited with $status"
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
echo "no crash"
