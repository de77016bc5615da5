#!/usr/bin/env bash
# Load report: a release server and a bots process for one scenario, then a
# table for people and a JSON file for tools.
#
#   scripts/loadtest.sh arena       [--players N] [--npcs M]      [--duration S] [--out FILE]
#                                   [--snapshot-rate HZ] [--view-radius UNITS] [--ws-players K]
#   scripts/loadtest.sh skirmish    [--players N]                 [--duration S] [--out FILE]
#   scripts/loadtest.sh broadcast   [--players N] [--chat-rate R] [--duration S] [--out FILE]
#   scripts/loadtest.sh login-storm [--players N] [--logins L]    [--duration S] [--out FILE]
#   scripts/loadtest.sh arena --cluster [--app N] [--players N] [--duration S]
#                                   the same bots through a local cluster's gateway
#                                   (scripts/cluster-bench.sh arena)
#   --baseline (any scenario): then, in the same sitting, the bare transport
#                                   (renet + renet_netcode, no game:
#                                   server/examples/bare_renet.rs) with as many
#                                   clients, the same bytes per player-tick each
#                                   way, at 30 Hz; the report adds its CPU per
#                                   client-tick and the ratio to the server's
#
# arena: everyone moving among NPCs. skirmish: the second game, every bot
# aiming at the nearest ship and firing (shots, hits with lag
# compensation, deaths and respawns). broadcast: each bot sends R numbered
# chat lines a second and the server relays every line to every player.
# login-storm: L parallel logins (fresh accounts) while N play.
# --ws-players K: K of the N bots play over WebSocket (as the browser page
# does, one binary message per datagram), in a second bots process.
# TICKFORGE_PIN=1: the server on core 0, the bots on core 1 (so the tick
# figures are the server's own cost, not the bots' competition).
#
# The measurement window starts once every bot is connected (or the ramp
# time is up) and lasts S seconds. Tick figures: the server's 10-s windows
# sampled through it (p50 = median of the windows' p50s, p99 = worst
# window's p99, max = worst). CPU % is of one core (200 % = both cores).
# The server hashes passwords on every core (--hash-workers) so the bots'
# registrations and logins take less of the run. Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
scenario=$1
shift
case $scenario in arena | skirmish | broadcast | login-storm) ;; *) usage ;; esac
# The game the server runs and the bots play.
game=arena
[ "$scenario" = skirmish ] && game=skirmish
if [ "$scenario" = arena ] && [[ " $* " == *" --cluster "* ]]; then
    args=()
    for a in "$@"; do [ "$a" = --cluster ] || args+=("$a"); done
    exec scripts/cluster-bench.sh arena "${args[@]}"
fi
players=200 npcs="" chat_rate=1 logins=200 duration=60 out="" snapshot_rate=30 view_radius="" ws_players=0 baseline=""
while [ $# -gt 0 ]; do
    case $1 in
        --baseline) baseline=1; shift; continue ;;
        --players) players=$2 ;;
        --npcs) npcs=$2 ;;
        --chat-rate) chat_rate=$2 ;;
        --logins) logins=$2 ;;
        --duration) duration=$2 ;;
        --out) out=$2 ;;
        --snapshot-rate) snapshot_rate=$2 ;;
        --view-radius) view_radius=$2 ;;
        --ws-players) ws_players=$2 ;;
        *) usage ;;
    esac
    shift 2
done
if [ -z "$npcs" ]; then if [ "$scenario" = arena ]; then npcs=200; else npcs=0; fi; fi
[ "$scenario" = broadcast ] || chat_rate=0
# The JSON report: by default under target/ (beside the build, out of git).
mkdir -p target/reports
out=${out:-target/reports/loadtest-$scenario.json}
# About 100 entities in each player's view: the radius of a circle holding
# 100 of (players + NPCs) spread over the world (the arena's 2000 x 2000,
# the skirmish's 1600 x 1200).
area=4000000
[ "$game" = skirmish ] && area=1920000
view=fixed
if [ -z "$view_radius" ]; then
    view=auto
    view_radius=$(view_radius_for $(( players + npcs )) "$area")
fi

for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "loadtest: needs $tool" >&2; exit 1; }
done
# Each bot is a socket; each login an HTTP connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

data=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
token="load-admin-$RANDOM$RANDOM"
# TICKFORGE_BIN_DIR: use binaries already built there (the smoke test uses
# the test build); otherwise build release binaries.
bin=${TICKFORGE_BIN_DIR:-}
if [ -z "$bin" ]; then
    echo "loadtest: cargo build --release (server, client${baseline:+, the bare transport}; cold: about 7 minutes on 2 cores)" >&2
    cargo build --release -p tickforge-server -p tickforge-client
    [ -z "$baseline" ] || cargo build --release -p tickforge-server --example bare_renet
    bin=./target/release
fi
# TICKFORGE_BARE_RENET: the bare transport's binary (the smoke test's
# build names it with a hash); otherwise the one beside the binaries.
bare_bin=${TICKFORGE_BARE_RENET:-$bin/examples/bare_renet}
if [ -n "$baseline" ] && [ ! -x "$bare_bin" ]; then
    echo "loadtest: --baseline needs $bare_bin (cargo build --release -p tickforge-server --example bare_renet)" >&2
    exit 1
fi

pin_server=() pin_bots=()
if [ -n "${TICKFORGE_PIN:-}" ]; then pin_server=(taskset -c 0); pin_bots=(taskset -c 1); fi
max_players=$(( players + 64 ))
[ "$max_players" -lt 1024 ] && max_players=1024
TICKFORGE_ADMIN_TOKEN=$token "${pin_server[@]}" "$bin/tickforge-server" --game "$game" --data-dir "$data/db" \
    --http 127.0.0.1:0 --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 \
    --max-players "$max_players" --npcs "$npcs" --view-radius "$view_radius" --snapshot-rate "$snapshot_rate" --hash-workers "$(nproc)" --hash-queue 256 \
    --max-registrations-per-hour 0 >"$data/out" 2>"$data/log" &
server=$!
await_line "$data/out" "http=" "$server" "$data/log"
api=http://$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
admin=http://$(grep -o 'admin=[^ ]*' "$data/out" | cut -d= -f2)
status() { curl -sf -H "Authorization: Bearer $token" "$admin/admin/status"; }
metric() { curl -sf "$admin/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/${1:-$server}/stat"; }
hz=$(getconf CLK_TCK)

sleep 2
rss_idle=$(rss_kib)

# Bots: a ramp for logging in, then the window.
ramp=$(( 20 + players / 8 ))
bots_duration=$(( ramp + duration + 5 ))
[ "$ws_players" -le "$players" ] || { echo "loadtest: --ws-players exceeds --players" >&2; exit 2; }
nice -n 10 "${pin_bots[@]}" "$bin/tickforge-client" --server "$api" --bots "$(( players - ws_players ))" --bot-prefix "load" --game "$game" \
    --moves random --chat-rate "$chat_rate" --duration "$bots_duration" >"$data/bots.jsonl" 2>"$data/bots.log" &
bots=$!
ws_bots=""
if [ "$ws_players" -gt 0 ]; then
    nice -n 10 "${pin_bots[@]}" "$bin/tickforge-client" --server "$api" --bots "$ws_players" --bot-prefix "loadws" --game "$game" --transport ws \
        --moves random --chat-rate "$chat_rate" --duration "$bots_duration" >"$data/ws-bots.jsonl" 2>"$data/ws-bots.log" &
    ws_bots=$!
fi
# CPU of both bots processes.
bots_cpu() {
    local ticks
    ticks=$(cpu_ticks "$bots")
    [ -z "$ws_bots" ] || ticks=$(( ticks + $(cpu_ticks "$ws_bots") ))
    echo "$ticks"
}
bots_start=$(date +%s.%N)
ramp_start=$(date +%s)
while [ "$(status | jq .players)" -lt "$players" ] && [ $(( $(date +%s) - ramp_start )) -lt "$ramp" ]; do sleep 1; done
connected_at_start=$(status | jq .players)
echo "loadtest $scenario: $connected_at_start/$players players connected after $(( $(date +%s) - ramp_start )) s; measuring ${duration} s" >&2

window_start=$(date +%s.%N)
cpu_start=$(cpu_ticks)
bots_cpu_start=$(bots_cpu)
reliable_queued_start=$(metric tickforge_reliable_messages_sent_total)
# The server's ticks and datagrams (netcode packets, both transports).
counters() {
    curl -sf "$admin/metrics" | awk '
        $1 == "tickforge_ticks_total" { t = $2 } $1 == "tickforge_datagrams_received_total" { di = $2 }
        $1 == "tickforge_datagrams_sent_total" { dout = $2 } $1 == "tickforge_datagrams_received_bytes_total" { bi = $2 }
        $1 == "tickforge_datagrams_sent_bytes_total" { bo = $2 }
        END { printf "{\"ticks\":%d,\"datagrams_in\":%d,\"datagrams_out\":%d,\"bytes_in\":%d,\"bytes_out\":%d}", t, di, dout, bi, bo }'
}
counters_start=$(counters)
chat_dropped_start=$(metric tickforge_chat_dropped_total)
: >"$data/ticks.jsonl"
storm_codes="" storm_rate=0 before="" during=""
sample_ticks() { status | jq -c '.tick_ms_10s + {overruns, skipped_ticks, players}' >>"$data/ticks.jsonl"; }

if [ "$scenario" = login-storm ]; then
    # Accounts first (not timed), then the quiet half, then the storm.
    seq 1 "$logins" | xargs -P 4 -I{} curl -s -o /dev/null --retry 30 --retry-max-time 120 -X POST "$api/v1/register" \
        -d "{\"username\":\"storm{}\",\"password\":\"storm-password\"}" || true
    sleep "${TICKFORGE_STORM_QUIET:-11}"
    before=$(status | jq -c .tick_ms_10s)
    storm_start=$(date +%s.%N)
    # A failed connection is answered "000" (and counted), not fatal.
    { seq 1 "$logins" | xargs -P "$logins" -I{} curl -s --retry 30 --retry-max-time 120 -o /dev/null \
        -w '%{http_code}\n' -X POST "$api/v1/login" -d "{\"username\":\"storm{}\",\"password\":\"storm-password\"}" \
        >"$data/codes" 2>"$data/xargs.err" || true; }
    storm_codes=$(sort "$data/codes" | uniq -c | awk '{printf "%s%s: %s", (NR > 1 ? ", " : ""), $2, $1}')
    answered=$(wc -l <"$data/codes")
    if [ "$answered" -lt "$logins" ]; then
        storm_codes="$storm_codes, unanswered: $(( logins - answered ))"
        sed 's/^/loadtest: /' "$data/xargs.err" | head -5 >&2
    fi
    storm_end=$(date +%s.%N)
    during=$(status | jq -c .tick_ms_10s)
    storm_rate=$(awk -v s="$storm_start" -v e="$storm_end" -v n="$logins" 'BEGIN { printf "%.1f", n / (e - s) }')
fi
window_end_at=$(( ${window_start%.*} + duration ))
while [ "$(date +%s)" -lt "$window_end_at" ]; do
    left=$(( window_end_at - $(date +%s) ))
    sleep $(( left < 10 ? (left > 0 ? left : 1) : 10 ))
    sample_ticks
done
# At least one sample, even when the storm outlasted the window.
[ -s "$data/ticks.jsonl" ] || sample_ticks
cpu_end=$(cpu_ticks)
bots_cpu_end=$(bots_cpu)
window_end=$(date +%s.%N)
rss_end=$(rss_kib)
reliable_queued_end=$(metric tickforge_reliable_messages_sent_total)
counters_end=$(counters)
chat_dropped_end=$(metric tickforge_chat_dropped_total)
final=$(status)
wait "$bots" || true
ws_summary=null
: >"$data/ws-seconds.jsonl"
if [ -n "$ws_bots" ]; then
    wait "$ws_bots" || true
    ws_summary=$(tail -n 1 "$data/ws-bots.jsonl")
    cp "$data/ws-bots.jsonl" "$data/ws-seconds.jsonl"
    echo "$ws_summary" | jq -e .summary >/dev/null || { echo "loadtest: the WebSocket bots printed no summary" >&2; cat "$data/ws-bots.log" >&2; exit 1; }
fi
summary=$(tail -n 1 "$data/bots.jsonl")
echo "$summary" | jq -e .summary >/dev/null || { echo "loadtest: the bots printed no summary" >&2; cat "$data/bots.log" >&2; exit 1; }

jq -n \
    --arg scenario "$scenario" --arg game "$game" --argjson players "$players" --argjson npcs "$npcs" --argjson chat_rate "$chat_rate" \
    --argjson view_radius "$view_radius" --argjson snapshot_rate "$snapshot_rate" \
    --argjson logins "$logins" --argjson duration "$duration" --argjson connected "$connected_at_start" \
    --argjson window_start "$window_start" --argjson window_end "$window_end" \
    --argjson cpu_start "$cpu_start" --argjson cpu_end "$cpu_end" --argjson hz "$hz" \
    --argjson bots_cpu_start "$bots_cpu_start" --argjson bots_cpu_end "$bots_cpu_end" \
    --argjson rss_idle "$rss_idle" --argjson rss_end "$rss_end" \
    --argjson reliable_queued_start "${reliable_queued_start:-0}" --argjson reliable_queued_end "${reliable_queued_end:-0}" \
    --argjson bots_start "$bots_start" --slurpfile bot_seconds "$data/bots.jsonl" --slurpfile ws_seconds "$data/ws-seconds.jsonl" \
    --argjson counters_start "$counters_start" --argjson counters_end "$counters_end" \
    --argjson chat_dropped_start "${chat_dropped_start:-0}" --argjson chat_dropped_end "${chat_dropped_end:-0}" \
    --slurpfile ticks "$data/ticks.jsonl" --argjson final "$final" --argjson bots "$summary" \
    --argjson ws_players "$ws_players" --argjson ws_bots "$ws_summary" \
    --arg storm_codes "$storm_codes" --argjson storm_rate "$storm_rate" \
    --arg before "$before" --arg during "$during" --arg view "$view" \
    --arg machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)" '
    def r1: (. * 10 | round) / 10;
    def r3: (. * 1000 | round) / 1000;
    ($window_end - $window_start) as $secs
    | (($cpu_end - $cpu_start) / $hz) as $cpu_s
    | ($ticks | map(.p50) | sort) as $p50s
    # What the bots received in the window: their cumulative count from the
    # per-second lines nearest the window start and end.
    | ($bot_seconds | map(select(.summary | not))) as $lines
    | ($lines | map(select(.t >= ($window_start - $bots_start))) | first) as $first
    | ($lines | map(select(.t <= ($window_end - $bots_start))) | last) as $last
    | (if $first != null and $last != null and $last.t > $first.t
       then {n: ($last.reliable_received - $first.reliable_received), secs: ($last.t - $first.t)}
       else {n: 0, secs: 1} end) as $received
    # The bots'"'"' datagrams and inputs (one input = one bot-tick) in the
    # window, both bots processes.
    | def window_traffic($all):
        ($all | map(select(.summary | not) | select(.traffic != null))) as $ls
        | ($ls | map(select(.t >= ($window_start - $bots_start))) | first) as $a
        | ($ls | map(select(.t <= ($window_end - $bots_start))) | last) as $b
        | if $a != null and $b != null and $b.t > $a.t then
            {inputs: ($b.traffic.inputs - $a.traffic.inputs), din: ($b.traffic.datagrams_in - $a.traffic.datagrams_in),
             dout: ($b.traffic.datagrams_out - $a.traffic.datagrams_out), secs: ($b.t - $a.t)}
          else {inputs: 0, din: 0, dout: 0, secs: 0} end;
      (window_traffic($bot_seconds)) as $bt | (window_traffic($ws_seconds)) as $wt
    | {inputs: ($bt.inputs + $wt.inputs), din: ($bt.din + $wt.din), dout: ($bt.dout + $wt.dout),
       secs: ([$bt.secs, $wt.secs] | max)} as $bots_traffic
    # The server'"'"'s: player-ticks in the window (mean players × ticks).
    | ($ticks | map(.players) | if length > 0 then add / length else 0 end) as $mean_players
    | ($counters_end.ticks - $counters_start.ticks) as $server_ticks
    | ($mean_players * $server_ticks) as $player_ticks
    | {
        report: "load", scenario: $scenario, game: $game, machine: $machine,
        players: $players, connected: $connected, npcs: $npcs, window_s: ($secs | r1),
        view: $view, view_radius: $view_radius, snapshot_rate: $snapshot_rate,
        tick_ms: {
          p50: (if ($p50s | length) > 0 then $p50s[(($p50s | length) / 2 | floor)] else null end),
          p99: ($ticks | map(.p99) | max), max: ($ticks | map(.max) | max)
        },
        overruns: $final.overruns, skipped_ticks: $final.skipped_ticks,
        server_cpu_percent: ($cpu_s / $secs * 100 | r1),
        bots_cpu_percent: (($bots_cpu_end - $bots_cpu_start) / $hz / $secs * 100 | r1),
        server_rss_mib: ($rss_end / 1024 | r1),
        server_rss_idle_mib: ($rss_idle / 1024 | r1),
        rss_per_player_kib: (if $players > 0 then (($rss_end - $rss_idle) / $players | r1) else null end),
        server_ticks: $server_ticks, mean_players: ($mean_players | r1),
        server_cpu_us_per_player_tick: (if $player_ticks > 0 then ($cpu_s * 1e6 / $player_ticks | r1) else null end),
        bots_cpu_us_per_bot_tick: (if $bots_traffic.inputs > 0 and $bots_traffic.secs > 0 then
          (($bots_cpu_end - $bots_cpu_start) / $hz * 1e6 / ($bots_traffic.inputs * $secs / $bots_traffic.secs) | r1) else null end),
        datagrams_per_player_tick: (if $player_ticks > 0 then
          { to_player: (($counters_end.datagrams_out - $counters_start.datagrams_out) / $player_ticks | r3),
            from_player: (($counters_end.datagrams_in - $counters_start.datagrams_in) / $player_ticks | r3) } else null end),
        bots_datagrams_per_bot_tick: (if $bots_traffic.inputs > 0 then
          { received: ($bots_traffic.din / $bots_traffic.inputs | r3), sent: ($bots_traffic.dout / $bots_traffic.inputs | r3) } else null end),
        datagram_bytes_per_player_per_s: (if $mean_players > 0 then
          { to_player: (($counters_end.bytes_out - $counters_start.bytes_out) / $mean_players / $secs | round),
            from_player: (($counters_end.bytes_in - $counters_start.bytes_in) / $mean_players / $secs | round) } else null end),
        bytes_per_player_per_s: { to_player: $bots.bytes_in_per_client, from_player: $bots.bytes_out_per_client },
        server_bytes_per_player_per_s: (if $final.players > 0 then
          { to_player: ($final.bytes_out_per_s / $final.players | round), from_player: ($final.bytes_in_per_s / $final.players | round) }
          else null end),
        rtt_ms: { p50: $bots.rtt_p50_ms, p99: $bots.rtt_p99_ms },
        snapshots_per_s_p50: $bots.snapshots_per_s_p50, entities_in_view_p50: $bots.entities_p50,
        logins_per_s: $bots.logins_per_s, mispredictions: $bots.mispredictions,
        login_errors: $bots.login_errors, ended_early: $bots.ended_early
      }
    + (if $ws_players > 0 then {
        ws_players: $ws_players,
        ws_bytes_per_player_per_s: { to_player: $ws_bots.bytes_in_per_client, from_player: $ws_bots.bytes_out_per_client },
        ws_rtt_ms: { p50: $ws_bots.rtt_p50_ms, p99: $ws_bots.rtt_p99_ms },
        ws_login_errors: $ws_bots.login_errors, ws_ended_early: $ws_bots.ended_early
      } else {} end)
    + (if $scenario == "broadcast" then {
        chat_rate: $chat_rate,
        reliable_messages_received: $received.n,
        messages_per_s: ($received.n / $received.secs | round),
        reliable_messages_queued: ($reliable_queued_end - $reliable_queued_start),
        server_cpu_us_per_message: (if $received.n > 0 then ($cpu_s * 1e6 / ($received.n / $received.secs * $secs) | r3) else null end),
        chat_out_of_order: $bots.chat_out_of_order,
        chat_dropped_by_server_limit: ($chat_dropped_end - $chat_dropped_start)
      } else {} end)
    + (if $scenario == "login-storm" then {
        logins: $logins, storm_logins_per_s: $storm_rate, storm_answers: $storm_codes,
        tick_ms_before: ($before | fromjson), tick_ms_during: ($during | fromjson),
        p99_ratio: (($during | fromjson).p99 / (($before | fromjson).p99) | r3)
      } else {} end)' >"$out"

if [ -n "$baseline" ]; then
    # The engine is done: stop it, then the bare transport on the same
    # cores with the same load (bytes per player-tick from this run).
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    read -r out_bytes in_bytes < <(jq -r --argjson rate 30 \
        '[(.datagram_bytes_per_player_per_s.to_player // 15000) / $rate, (.datagram_bytes_per_player_per_s.from_player // 1200) / $rate]
         | map(round | if . < 1 then 1 else . end) | "\(.[0]) \(.[1])"' "$out")
    echo "loadtest: the bare transport, $players clients, $out_bytes B out / $in_bytes B in per tick, ${duration} s" >&2
    bare=$("$bare_bin" --clients "$players" --seconds "$duration" --rate 30 --out "$out_bytes" --in "$in_bytes" \
        2>"$data/bare.log" | tail -n 1)
    echo "$bare" | jq -e '.scenario == "bare_renet"' >/dev/null || {
        echo "loadtest: the bare transport printed no report" >&2; cat "$data/bare.log" >&2; exit 1; }
    jq --argjson bare "$bare" '
        . + {baseline: $bare,
             baseline_ratio: (if .server_cpu_us_per_player_tick != null and $bare.server_cpu_us_per_client_tick > 0
                              then (.server_cpu_us_per_player_tick / $bare.server_cpu_us_per_client_tick * 100 | round) / 100
                              else null end)}' "$out" >"$data/with-baseline.json"
    mv "$data/with-baseline.json" "$out"
fi

jq -r '
  def row(k; v): "\(k | . + " " * (34 - length))\(v)";
  row("scenario"; .scenario),
  row("game"; .game),
  row("machine"; .machine),
  row("players connected / asked"; "\(.connected) / \(.players)"),
  row("NPCs"; .npcs),
  row("view radius / snapshot rate"; "\(.view_radius) / \(.snapshot_rate) Hz"),
  row("window"; "\(.window_s) s"),
  row("tick ms p50 / p99 / max"; "\(.tick_ms.p50) / \(.tick_ms.p99) / \(.tick_ms.max)"),
  row("overruns / skipped ticks (total)"; "\(.overruns) / \(.skipped_ticks)"),
  row("server CPU (one core = 100%)"; "\(.server_cpu_percent) %"),
  row("bots CPU (same machine)"; "\(.bots_cpu_percent) %"),
  row("server RSS (idle → loaded)"; "\(.server_rss_idle_mib) → \(.server_rss_mib) MiB"),
  row("RSS per player"; "\(.rss_per_player_kib) KiB"),
  row("server CPU per player per tick"; "\(.server_cpu_us_per_player_tick) µs (\(.mean_players) players × \(.server_ticks) ticks)"),
  row("bots CPU per bot per tick"; "\(.bots_cpu_us_per_bot_tick) µs"),
  row("datagrams per player per tick"; "\(.datagrams_per_player_tick.to_player) to / \(.datagrams_per_player_tick.from_player) from (server), \(.bots_datagrams_per_bot_tick.received) in / \(.bots_datagrams_per_bot_tick.sent) out (bots)"),
  row("datagram bytes/s per player"; "\(.datagram_bytes_per_player_per_s.to_player) to (\(.datagram_bytes_per_player_per_s.to_player * 8 / 1000 | round) kbit/s) / \(.datagram_bytes_per_player_per_s.from_player) from (server)"),
  row("bytes/s per player (to / from)"; "\(.bytes_per_player_per_s.to_player) / \(.bytes_per_player_per_s.from_player) (bots), \(.server_bytes_per_player_per_s.to_player) / \(.server_bytes_per_player_per_s.from_player) (server)"),
  row("RTT ms p50 / p99 (bots)"; "\(.rtt_ms.p50) / \(.rtt_ms.p99)"),
  row("snapshots/s per bot (p50)"; .snapshots_per_s_p50),
  row("entities in view (p50)"; .entities_in_view_p50),
  row("bot logins/s"; .logins_per_s),
  (if .ws_players then
     row("WebSocket bots"; .ws_players),
     row("bytes/s per WebSocket bot (to / from)"; "\(.ws_bytes_per_player_per_s.to_player) / \(.ws_bytes_per_player_per_s.from_player)"),
     row("RTT ms p50 / p99 (WebSocket bots)"; "\(.ws_rtt_ms.p50) / \(.ws_rtt_ms.p99)")
   else empty end),
  row("mispredictions"; .mispredictions),
  (if .baseline then
     row("bare renet CPU per client-tick"; "\(.baseline.server_cpu_us_per_client_tick) µs (\(.baseline.connected) clients, \(.baseline.out_bytes) B out / \(.baseline.in_bytes) B in per tick)"),
     row("server / bare renet"; "\(.baseline_ratio)×"),
     row("bare renet clients CPU per tick"; "\(.baseline.clients_cpu_us_per_client_tick) µs per client (compare with the bots per bot-tick)")
   else empty end),
  (if .scenario == "broadcast" then
     row("reliable messages received"; "\(.reliable_messages_received) (\(.messages_per_s)/s; queued: \(.reliable_messages_queued))"),
     row("server CPU per message"; "\(.server_cpu_us_per_message) µs"),
     row("chat out of order (bots)"; .chat_out_of_order),
     row("chat dropped by the server limit"; .chat_dropped_by_server_limit)
   else empty end),
  (if .scenario == "login-storm" then
     row("storm"; "\(.logins) logins, \(.storm_logins_per_s)/s (\(.storm_answers))"),
     row("tick ms before (10 s)"; .tick_ms_before | tostring),
     row("tick ms during (10 s)"; .tick_ms_during | tostring),
     row("p99 during / before"; .p99_ratio)
   else empty end),
  (if (.login_errors | length) > 0 then row("login errors"; .login_errors | tostring) else empty end),
  (if (.ended_early | length) > 0 then row("sessions ended early"; .ended_early | tostring) else empty end)
' "$out"
echo "JSON: $out"
