#!/usr/bin/env bash
# Soak: a release server behind tickforge-netem (loss, duplication,
# reordering), 64 headless clients churning — connecting, playing and
# chatting for a random 5–30 s, disconnecting, coming back — for MINUTES
# (default 10). Reports disconnect reasons, reliable chat lines received out
# of order or missing, mispredictions, and server memory at start and end.
#
#   scripts/soak.sh [MINUTES] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
clients=${2:-64}
data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT

cargo build --release -q -p tickforge-server -p tickforge-client -p tickforge-netem
proxy_port=$((20000 + RANDOM % 20000))
./target/release/tickforge-server --data-dir "$data" --http 127.0.0.1:0 --udp 127.0.0.1:0 --admin 127.0.0.1:0 \
    --public-addr "127.0.0.1:$proxy_port" --max-players 128 --hash-workers 1 >"$data/out" 2>"$data/log" &
server=$!
until grep -q "http=" "$data/out" 2>/dev/null; do sleep 0.1; done
api=http://$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
udp=$(grep -o 'udp=[^ ]*' "$data/out" | cut -d= -f2)
./target/release/tickforge-netem --listen "127.0.0.1:$proxy_port" --forward "$udp" \
    --delay-ms 40 --jitter-ms 10 --loss 0.05 --duplicate 0.02 --reorder 0.03 --stats-every 0 2>/dev/null &
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }

end=$(( $(date +%s) + minutes * 60 ))
mkdir -p "$data/runs"
for i in $(seq 1 "$clients"); do
    (
        run=0
        while [ "$(date +%s)" -lt "$end" ]; do
            run=$((run + 1))
            left=$(( end - $(date +%s) ))
            secs=$(( 5 + RANDOM % 26 ))
            [ "$secs" -gt "$left" ] && secs=$left
            [ "$secs" -lt 2 ] && break
            ./target/release/tickforge-client --server "$api" --headless --register --user "soak$i" \
                --password soak-password --moves random --chat-rate 1 --duration "$secs" \
                2>/dev/null | tail -n 1 >"$data/runs/$i-$run.json" || sleep 1  # a failed run backs off
        done
    ) &
    sleep 0.05
done
sleep 20
rss_start=$(rss)
: >"$data/rss"
wait_until=$(( end + 40 ))
next_sample=$(date +%s)
while [ "$(date +%s)" -lt "$wait_until" ] && [ "$(jobs -p | wc -l)" -gt 2 ]; do
    if [ "$(date +%s)" -ge "$next_sample" ]; then
        rss >>"$data/rss"
        next_sample=$(( next_sample + 30 ))
    fi
    sleep 2
done
rss_end=$(rss)

echo "soak: $minutes min, $clients clients churning through 40 ms ± 10 ms, 5% loss, 2% duplication, 3% reordering"
echo "server RSS: ${rss_start} KiB after warm-up, ${rss_end} KiB at the end; every 30 s: min $(sort -n "$data/rss" | head -1), max $(sort -n "$data/rss" | tail -1) KiB"
awk -v a="$rss_start" -v b="$rss_end" 'BEGIN { printf "change: %+.1f%%\n", (b - a) * 100 / a }'
find "$data/runs" -name '*.json' -exec cat {} + | jq -s '
  {
    runs: length,
    connected: map(select(.connected)) | length,
    ended_early: map(select(.error != null)) | group_by(.error) | map({reason: .[0].error, count: length}),
    chat_lines_received: map(.chat_received // 0) | add,
    chat_out_of_order_or_missing: map(.chat_out_of_order // 0) | add,
    mispredictions: map(.mispredictions.count // 0) | add,
    longest_freeze_ms: map(.longest_freeze_ms // 0) | max
  }'
