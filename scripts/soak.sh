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
#
# Prints its progress every 30 s (to stderr) and fails at once if the
# server dies. The summary (JSON) also goes to target/reports/soak.json,
# with the server's RSS every 30 s, for scripts/plot.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
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

# TICKFORGE_BIN_DIR: binaries already built there; otherwise release ones.
bin=${TICKFORGE_BIN_DIR:-}
if [ -z "$bin" ]; then
    echo "soak: cargo build --release (server, client, netem)" >&2
    cargo build --release -p tickforge-server -p tickforge-client -p tickforge-netem
    bin=./target/release
fi
proxy_port=$((20000 + RANDOM % 20000))
# Every refused handshake packet is logged with its peer and reason.
RUST_LOG=info,tickforge_server::net::transport=debug "$bin"/tickforge-server --data-dir "$data" \
    --http 127.0.0.1:0 --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 \
    --public-addr "127.0.0.1:$proxy_port" --max-players 128 --hash-workers 1 --max-registrations-per-hour 0 >"$data/out" 2>"$data/log" &
server=$!
await_line "$data/out" "http=" "$server" "$data/log"
api=http://$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
udp=$(grep -o 'udp=[^ ]*' "$data/out" | cut -d= -f2)
admin=http://$(grep -o 'admin=[^ ]*' "$data/out" | cut -d= -f2)
"$bin"/tickforge-netem --listen "127.0.0.1:$proxy_port" --forward "$udp" \
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
            "$bin"/tickforge-client --server "$api" --headless --register --user "soak$i" \
                --password soak-password --moves random --chat-rate 1 --duration "$secs" \
                2>/dev/null | tail -n 1 >"$data/runs/$i-$run.json" || sleep 1  # a failed run backs off
        done
    ) &
    sleep 0.05
done
sleep 20
server_up() { kill -0 "$server" 2>/dev/null || { echo "soak: the server exited; the end of its log:" >&2; tail -n 20 "$data/log" >&2; exit 1; }; }
server_up
rss_start=$(rss)
: >"$data/rss"
started=$(date +%s)
wait_until=$(( end + 40 ))
next_sample=$started
# Every 30 s: how far it is, runs so far, players on now, server memory.
while [ "$(date +%s)" -lt "$wait_until" ] && [ "$(jobs -p | wc -l)" -gt 2 ]; do
    server_up
    if [ "$(date +%s)" -ge "$next_sample" ]; then
        rss >>"$data/rss"
        next_sample=$(( next_sample + 30 ))
        runs=$(find "$data/runs" -name '*.json' | wc -l)
        players=$(curl -sf --max-time 2 "$admin/metrics" | awk '$1 == "tickforge_players" {print $2}' || true)
        echo "soak: $(( ($(date +%s) - started) / 60 ))/$minutes min, $runs runs so far, ${players:-?} playing, server RSS $(tail -1 "$data/rss") KiB" >&2
    fi
    sleep 2
done
server_up
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
# The summary, also kept as a report for scripts/plot.sh (with the memory samples).
mkdir -p target/reports
find "$data/runs" -name '*.json' -exec cat {} + | jq -s --argjson minutes "$minutes" --argjson clients "$clients" \
    --slurpfile rss "$data/rss" '
  {
    report: "soak", minutes: $minutes, clients: $clients, rss_every_s: 30, rss_kib: $rss,
    runs: length,
    connected: map(select(.connected)) | length,
    connected_percent: ((map(select(.connected)) | length) * 10000 / length | round / 100),
    failed_to_connect: map(select(.connected | not)) | group_by(.error) | map({reason: .[0].error, count: length}),
    ended_early: map(select(.connected and .error != null)) | group_by(.error) | map({reason: .[0].error, count: length}),
    chat_lines_received: map(.chat_received // 0) | add,
    chat_out_of_order_or_missing: map(.chat_out_of_order // 0) | add,
    mispredictions: map(.mispredictions.count // 0) | add,
    longest_freeze_ms: map(.longest_freeze_ms // 0) | max
  }' | tee target/reports/soak.json
echo "soak: report in target/reports/soak.json" >&2
