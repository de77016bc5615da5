#!/usr/bin/env bash
# Blue-green rollout on the local cluster (scripts/cluster.sh up):
#
#   scripts/deploy.sh green      # or blue
#
# Starts as many app servers of COLOUR as the other colour has live, waits
# until they are `ready`, switches the active colour (POST /admin/deploy),
# waits while the old colour's servers move their players live and exit,
# confirms they did, and prints a report: players moved, players the old
# servers had to drop (their client never left), the longest handoff seen
# by the old servers (freeze → client gone), and failures. The same
# command with the other colour rolls back.
#
# TICKFORGE_CLUSTER_DIR as for cluster.sh; TICKFORGE_BIN_DIR to use binaries
# built there (default: the ones `cluster.sh up` used).
set -euo pipefail
cd "$(dirname "$0")/.."

colour=${1:-}
case $colour in blue | green) ;; *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;; esac
dir=${TICKFORGE_CLUSTER_DIR:-$PWD/cluster}
[ -s "$dir/gateway" ] || { echo "deploy.sh: no cluster under $dir (scripts/cluster.sh up)" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
export TICKFORGE_CLUSTER_DIR=$dir
[ -n "${TICKFORGE_BIN_DIR:-}" ] && echo "$TICKFORGE_BIN_DIR" >"$dir/bin"

token=$(cat "$dir/admin-token")
admin="http://127.0.0.1:$(cat "$dir/ports/$(head -1 "$dir/auth-nodes")-admin")"
registry() { curl -sf -H "Authorization: Bearer $token" "$admin/admin/cluster"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
started=$(date +%s.%N)

view=$(registry) || { echo "deploy.sh: the registry is unavailable at $admin" >&2; exit 1; }
active=$(jq -r .active_colour <<<"$view")
old=$(jq -r --arg c "$colour" '.servers[] | select(.alive and .colour != $c) | .id' <<<"$view" | tr "\n" " ")
count=$(wc -w <<<"$old")
[ "$count" -ge 1 ] || count=1
echo "deploy: active colour $active; $(wc -w <<<"$old") live server(s) of the other colour: ${old:-none}"

# 1. New servers of COLOUR (reusing stopped ones of that colour first).
new=()
for node in $(cat "$dir/app-nodes"); do
    [ ${#new[@]} -lt "$count" ] || break
    if grep -q -- "--colour $colour" "$dir/$node/flags" 2>/dev/null; then
        alive "$dir/$node/pid" || scripts/cluster.sh start "$node" >/dev/null
        new+=("$node")
    fi
done
next=$(( $(sed 's/app-//' "$dir/app-nodes" | sort -n | tail -1) + 1 ))
while [ ${#new[@]} -lt "$count" ]; do
    node="app-$next"
    mkdir -p "$dir/$node"
    echo "--colour $colour" >"$dir/$node/flags"
    echo "$node" >>"$dir/app-nodes"
    scripts/cluster.sh start "$node" >/dev/null
    new+=("$node")
    next=$((next + 1))
done
echo "deploy: $colour servers: ${new[*]}; waiting until ready"
deadline=$(( $(date +%s) + 60 ))
for node in "${new[@]}"; do
    until registry | jq -e --arg id "$node" '.servers[] | select(.id == $id and .state == "ready" and .alive)' >/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "deploy.sh: $node never became ready; not switching" >&2; exit 1; }
        sleep 0.2
    done
done

# 2. The switch.
players_before=$(registry | jq --arg c "$colour" '[.servers[] | select(.alive and .colour != $c) | .players] | add // 0')
curl -sf -H "Authorization: Bearer $token" -d "{\"colour\":\"$colour\"}" "$admin/admin/deploy" >/dev/null
switched=$(date +%s.%N)
echo "deploy: switched to $colour; moving $players_before player(s)"

# 3. The old colour drains: its servers move their players and exit.
declare -A moved abandoned longest
failures=0
deadline=$(( $(date +%s) + 120 ))
for id in $old; do
    pidfile="$dir/$id/pid"
    metrics_url="http://127.0.0.1:$(cat "$dir/ports/$id-admin")/metrics"
    while alive "$pidfile"; do
        # The last figures before it exits.
        m=$(curl -s "$metrics_url" || true)
        if [ -n "$m" ]; then
            moved[$id]=$(awk '$1 == "tickforge_handoffs_total" {print $2}' <<<"$m")
            abandoned[$id]=$(awk '$1 == "tickforge_handoffs_abandoned_total" {print $2}' <<<"$m")
            longest[$id]=$(awk '$1 == "tickforge_handoff_longest_seconds" {print $2 * 1000}' <<<"$m")
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "deploy.sh: $id still running after 120 s" >&2
            failures=$((failures + 1))
            break
        fi
        sleep 0.2
    done
    alive "$pidfile" || rm -f "$pidfile"
    # Its last word has the final figures.
    last=$(grep 'drained: nobody left' "$dir/$id/log" | tail -1 || true)
    if [ -n "$last" ]; then
        moved[$id]=$(grep -o 'moved=[0-9]*' <<<"$last" | cut -d= -f2 || true)
        abandoned[$id]=$(grep -o 'abandoned=[0-9]*' <<<"$last" | cut -d= -f2 || true)
        longest[$id]=$(grep -o 'longest_handoff_ms=[0-9]*' <<<"$last" | cut -d= -f2 || true)
    fi
done
drained=$(date +%s.%N)

# 4. Confirm and report.
view=$(registry)
for id in $old; do
    state=$(jq -r --arg id "$id" '.servers[] | select(.id == $id) | .state' <<<"$view")
    if [ "$state" != stopped ]; then
        echo "deploy.sh: $id is $state, not stopped" >&2
        failures=$((failures + 1))
    fi
done
total_moved=0 total_abandoned=0 worst=0
for id in $old; do
    total_moved=$(awk -v a="$total_moved" -v b="${moved[$id]:-0}" 'BEGIN { print a + b }')
    total_abandoned=$(awk -v a="$total_abandoned" -v b="${abandoned[$id]:-0}" 'BEGIN { print a + b }')
    worst=$(awk -v a="$worst" -v b="${longest[$id]:-0}" 'BEGIN { print (b > a ? b : a) }')
done
players_after=$(jq --arg c "$colour" '[.servers[] | select(.alive and .colour == $c) | .players] | add // 0' <<<"$view")
jq -n --arg colour "$colour" --arg from "$active" --argjson before "$players_before" --argjson after "$players_after" \
    --argjson moved "$total_moved" --argjson abandoned "$total_abandoned" --argjson longest "$worst" \
    --argjson failures "$failures" \
    --argjson drain_s "$(awk -v s="$switched" -v e="$drained" 'BEGIN { printf "%.2f", e - s }')" \
    --argjson total_s "$(awk -v s="$started" -v e="$drained" 'BEGIN { printf "%.2f", e - s }')" \
    '{deploy: $colour, from: $from, players_on_old: $before, players_moved: $moved, players_abandoned: $abandoned,
      players_on_new: $after, longest_handoff_ms: $longest, drain_s: $drain_s, total_s: $total_s, failures: $failures}'
[ "$failures" -eq 0 ]
