#!/usr/bin/env bash
# Soak: a release server behind tickforge-netem (loss, duplication,
# reordering), 64 headless clients churning — connecting, playing and
# chatting for a random 5–30 s, disconnecting, coming back — for MINUTES
# (default 10). Reports runs that failed to connect and sessions that ended
# early, by reason; the server's refusals of handshake packets, by reason
# and by how many peers saw them; reliable chat lines received out of order
# or missing; mispredictions; and server memory at start and end.
#
#   scripts/soak.sh [MINUTES] [CLIENTS]     (TICKFORGE_SOAK_KEEP=1 keeps the data dir)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
clients=${2:-64}
data=$(mktemp -d)
# TICKFORGE_SOAK_KEEP=1 keeps the server's log, database and run files.
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    if [ -n "${TICKFORGE_SOAK_KEEP:-}" ]; then echo "kept: $data (log, database, runs/)"; else rm -rf "$data"; fi
}
trap cleanup EXIT

cargo build --release -q -p tickforge-server -p tickforge-client -p tickforge-netem
proxy_port=$((20000 + RANDOM % 20000))
# Every refused handshake packet is logged with its peer and reason.
RUST_LOG=info,tickforge_server::net::transport=debug ./target/release/tickforge-server --data-dir "$data" \
    --http 127.0.0.1:0 --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 \
    --public-addr "127.0.0.1:$proxy_port" --max-players 128 --hash-workers 1 --max-registrations-per-hour 0 >"$data/out" 2>"$data/log" &
server=$!
until grep -q "http=" "$data/out" 2>/dev/null; do sleep 0.1; done
api=http://$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
udp=$(grep -o 'udp=[^ ]*' "$data/out" | cut -d= -f2)
admin=http://$(grep -o 'admin=[^ ]*' "$data/out" | cut -d= -f2)
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
echo "server: handshake packets refused, by reason (tickforge_handshake_refused_total), and peers that saw each:"
curl -sf "$admin/metrics" | awk '/^tickforge_handshake_refused_total/ && $2 > 0 { match($0, /reason="[^"]*"/); print "  " substr($0, RSTART + 8, RLENGTH - 9) ": " $2 }' |
    while read -r reason count; do
        peers=$(grep "handshake packet refused" "$data/log" | grep "reason=${reason%:}" | grep -o 'peer=[^ ]*' | sort -u | wc -l)
        echo "  $reason $count from $peers peers"
    done
echo "server: connections replaced by a newer one of the same account: $(curl -sf "$admin/metrics" | awk '/^tickforge_connections_replaced_total/ {print $2}')"
echo "server: chat lines dropped by the chat limit: $(curl -sf "$admin/metrics" | awk '/^tickforge_chat_dropped_total/ {print $2}')"
find "$data/runs" -name '*.json' -exec cat {} + | jq -s '
  {
    runs: length,
    connected: map(select(.connected)) | length,
    connected_percent: ((map(select(.connected)) | length) * 10000 / length | round / 100),
    failed_to_connect: map(select(.connected | not)) | group_by(.error) | map({reason: .[0].error, count: length}),
    ended_early: map(select(.connected and .error != null)) | group_by(.error) | map({reason: .[0].error, count: length}),
    chat_lines_received: map(.chat_received // 0) | add,
    chat_out_of_order_or_missing: map(.chat_out_of_order // 0) | add,
    mispredictions: map(.mispredictions.count // 0) | add,
    longest_freeze_ms: map(.longest_freeze_ms // 0) | max
  }'
