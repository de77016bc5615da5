#!/usr/bin/env bash
# Measures what a burst of parallel logins does to the tick.
#
#   scripts/login-storm.sh [LOGINS] [PLAYERS]     (defaults: 100 logins, 4 players)
#
# Starts a release server (temporary data dir, free ports), PLAYERS headless
# clients walking around, registers LOGINS accounts, then reads the tick
# p50/p99/max over 10 s before and during LOGINS parallel logins, the login
# throughput and answers (503s are retried after Retry-After, as a client
# should), and the store commit latency. Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
logins=${1:-100}
players=${2:-4}
token="storm-admin-token-$RANDOM$RANDOM"
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT

cargo build --release -q -p tickforge-server -p tickforge-client
TICKFORGE_ADMIN_TOKEN=$token ./target/release/tickforge-server --data-dir "$data" \
    --http 127.0.0.1:0 --udp 127.0.0.1:0 --admin 127.0.0.1:0 >"$data/out" 2>"$data/log" &
until grep -q "http=" "$data/out" 2>/dev/null; do sleep 0.1; done
api=http://$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
admin=http://$(grep -o 'admin=[^ ]*' "$data/out" | cut -d= -f2)
status() { curl -sf -H "Authorization: Bearer $token" "$admin/admin/status"; }

for i in $(seq 1 "$players"); do
    ./target/release/tickforge-client --server "$api" --headless --register --user "player$i" \
        --password "storm-password" --moves random --duration 600 >/dev/null 2>&1 &
done
echo "registering $logins accounts..."
seq 1 "$logins" | xargs -P 4 -I{} curl -sf -o /dev/null -X POST "$api/v1/register" \
    -d "{\"username\":\"storm{}\",\"password\":\"storm-password\"}"
echo "steady state for 12 s..."
sleep 12
before=$(status)

echo "firing $logins parallel logins..."
start=$(date +%s.%N)
codes=$(seq 1 "$logins" | xargs -P "$logins" -I{} curl -s --retry 30 --retry-max-time 120 -o "$data/body{}" -w '%{http_code}\n' -X POST \
    "$api/v1/login" -d "{\"username\":\"storm{}\",\"password\":\"storm-password\"}" | sort | uniq -c | tr '\n' ' ')
end=$(date +%s.%N)
during=$(status)
metrics=$(curl -sf "$admin/metrics")
commit_sum=$(awk '/^tickforge_store_commit_seconds_sum/ {print $2}' <<<"$metrics")
commit_count=$(awk '/^tickforge_store_commit_seconds_count/ {print $2}' <<<"$metrics")

echo
echo "players connected:        $(jq .players <<<"$during")"
echo "tick ms (10 s) before:    $(jq -c .tick_ms_10s <<<"$before")"
echo "tick ms (10 s) during:    $(jq -c .tick_ms_10s <<<"$during")"
echo "overruns / skipped:       $(jq .overruns <<<"$during") / $(jq .skipped_ticks <<<"$during")"
echo "logins answered:          $codes"
awk -v s="$start" -v e="$end" -v n="$logins" 'BEGIN { printf "login burst:              %.2f s, %.1f logins/s\n", e - s, n / (e - s) }'
awk -v s="$commit_sum" -v c="$commit_count" 'BEGIN { printf "store commits:            %d, mean %.3f ms\n", c, (c > 0 ? 1000 * s / c : 0) }'
echo "store commit histogram (le seconds: count):"
grep '^tickforge_store_commit_seconds_bucket' <<<"$metrics" | sed 's/.*le="\([^"]*\)"} /  \1: /' | tr '\n' ' '
echo
