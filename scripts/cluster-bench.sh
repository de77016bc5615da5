#!/usr/bin/env bash
# Cluster figures on this machine, each on a fresh local cluster
# (scripts/cluster.sh under a temporary directory, release binaries):
#
#   scripts/cluster-bench.sh logins [--logins L] [--auth N]...
#       L logins at once through the gateway, with 1 auth node then 2 (or
#       each --auth given): logins per second, per node, and the director's
#       placement time per login (from tickforge_placement_seconds: mean,
#       and the p50/p99 histogram buckets).
#   scripts/cluster-bench.sh arena [--players N] [--app N] [--duration S]
#       N bots through the gateway on N app servers: players per server,
#       tick p99 per server (worst 10-s window), store commit latency per
#       server (PostgreSQL), and the same load on one --role all server on
#       SQLite for comparison.
#   scripts/cluster-bench.sh rollout [--players N] [--app N]
#       N bots playing and chatting (1 line/s) on N blue app servers;
#       scripts/deploy.sh green while they play: the deploy report, and the
#       bots' view — sessions ended, logins again, transfers, pause p50/p99/
#       max, chat lines out of order.
#   scripts/cluster-bench.sh failover [--players N]
#       N bots on one app server, a second one started beside it, then
#       kill -9 of the first: how many came back by themselves, their outage
#       p50/p99/max, and the most play any lost (the age of the state it came
#       back to; saves are every 5 s).
#   scripts/cluster-bench.sh blackout [--duration S]
#       One headless client through tickforge-netem, whose link goes dark
#       for S seconds (default 5) once: reconnects, the outage, how long
#       after the link returned the client was back, and what play it lost.
#   scripts/cluster-bench.sh database [--commits N] [--players N]
#       A primary with a synchronous hot standby (cluster.sh up --db-standby):
#       commit latency through the store (N transactions one after another,
#       default 2000) with the standby, then with it killed (the primary
#       alone, degraded); then cluster.sh failover while N bots play and a
#       store writes: how long its requests failed, the outage each node's
#       store saw (first failed write to first committed one), the bots.
#
# Needs postgresql, nginx, curl, jq. TICKFORGE_BIN_DIR: use binaries built there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

usage() { sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
mode=$1
shift
logins=200 players=120 apps=2 duration=40 auths=() commits=2000
while [ $# -gt 0 ]; do
    case $1 in
        --logins) logins=$2 ;;
        --commits) commits=$2 ;;
        --auth) auths+=("$2") ;;
        --players) players=$2 ;;
        --app) apps=$2 ;;
        --duration) duration=$2 duration_given=$2 ;;
        *) usage ;;
    esac
    shift 2
done
[ ${#auths[@]} -gt 0 ] || auths=(1 2)
for tool in curl jq nginx; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "cluster-bench: needs $tool" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bin=${TICKFORGE_BIN_DIR:-}
if [ -z "$bin" ]; then
    cargo build --release -p tickforge-server -p tickforge-client -p tickforge-netem
    bin=$PWD/target/release
fi
export TICKFORGE_BIN_DIR=$bin

work=$(mktemp -d /tmp/tickforge-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
    for d in "$work"/c*; do [ -d "$d" ] && TICKFORGE_CLUSTER_DIR=$d scripts/cluster.sh down >/dev/null 2>&1 || true; done
    kill $(jobs -p) 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# cluster_up NAME ARGS…: a fresh cluster in $work/NAME.
cluster_up() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    TICKFORGE_CLUSTER_DIR=$work/$name scripts/cluster.sh up "$@" >"$work/$name.up" 2>&1 ||
        { cat "$work/$name.up" >&2; exit 1; }
}
port() { cat "$work/$1/ports/$2"; }
token() { cat "$work/$1/admin-token"; }

# p-quantile upper bucket bound (ms) of a Prometheus histogram summed over nodes.
bucket_quantile() {
    local q=$1
    awk -v q="$q" '
        /_bucket\{/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); count[le] += $2; seen[le] = 1 }
        END {
            n = 0; for (le in seen) bounds[++n] = le
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) {
                a = (bounds[i] == "+Inf") ? 1e18 : bounds[i] + 0; b = (bounds[j] == "+Inf") ? 1e18 : bounds[j] + 0
                if (b < a) { t = bounds[i]; bounds[i] = bounds[j]; bounds[j] = t }
            }
            total = count["+Inf"]
            for (i = 1; i <= n; i++) if (count[bounds[i]] >= q * total) {
                if (bounds[i] == "+Inf") print "inf"; else printf "%g\n", bounds[i] * 1000; exit
            }
        }'
}

logins_bench() {
    echo "| auth nodes | logins | ok | seconds | logins/s | per node | placement mean | p50 (bucket) | p99 (bucket) |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for n in "${auths[@]}"; do
        local c=c$n
        cluster_up "$c" --auth "$n" --app 2 -- --hash-queue 64 --max-registrations-per-hour 0
        local gw
        gw=$(cat "$work/$c/gateway")
        # Accounts first, not timed.
        # Bodies go to files: curl cannot retry (it truncates its output) into /dev/null.
        mkdir -p "$work/$c.bodies"
        seq 1 "$logins" | xargs -P 4 -I{} curl -s -o "$work/$c.bodies/r{}" --retry 20 --retry-max-time 60 -X POST \
            "$gw/v1/register" -d '{"username":"bench{}","password":"bench-password"}'
        local start end
        start=$(date +%s.%N)
        seq 1 "$logins" | xargs -P 64 -I{} curl -s -o "$work/$c.bodies/l{}" -w '%{http_code}\n' --retry 30 --retry-max-time 120 \
            -X POST "$gw/v1/login" -d '{"username":"bench{}","password":"bench-password"}' >"$work/$c.codes" || true
        end=$(date +%s.%N)
        local ok
        ok=$(grep -c "^200$" "$work/$c.codes" || true)
        echo "auth=$n answers: $(sort "$work/$c.codes" | uniq -c | tr -s " " | tr "\n" " ")" >&2
        : >"$work/$c.metrics"
        for i in $(seq 1 "$n"); do
            curl -s "http://127.0.0.1:$(port "$c" "auth-$i-admin")/metrics" | grep '^tickforge_placement_seconds' >>"$work/$c.metrics"
        done
        local mean p50 p99
        mean=$(awk '/_sum/ { s += $2 } /_count/ { c += $2 } END { printf "%.2f ms", c ? 1000 * s / c : 0 }' "$work/$c.metrics")
        p50=$(bucket_quantile 0.5 <"$work/$c.metrics")
        p99=$(bucket_quantile 0.99 <"$work/$c.metrics")
        awk -v n="$n" -v l="$logins" -v ok="$ok" -v s="$start" -v e="$end" -v m="$mean" -v p50="$p50" -v p99="$p99" \
            'BEGIN { t = e - s; printf "| %d | %d | %d | %.1f | %.1f | %.1f | %s | ≤ %s ms | ≤ %s ms |\n", n, l, ok, t, ok / t, ok / t / n, m, p50, p99 }'
        TICKFORGE_CLUSTER_DIR=$work/$c scripts/cluster.sh down >/dev/null 2>&1
    done
}

# Per app server over the window: players, worst 10-s tick p99, commit latency mean.
arena_bench() {
    cluster_up ca --auth 1 --app "$apps" -- --hash-workers 2 --max-registrations-per-hour 0
    local gw tok
    gw=$(cat "$work/ca/gateway")
    tok=$(token ca)
    "$bin/tickforge-client" --server "$gw" --bots "$players" --bot-prefix load --moves random \
        --duration $(( duration + 30 + players / 8 )) >"$work/bots.jsonl" 2>"$work/bots.log" &
    local waited=0 total=0
    while [ $waited -lt $(( 30 + players / 8 )) ]; do
        total=0
        for i in $(seq 1 "$apps"); do
            total=$(( total + $(curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$(port ca "app-$i-admin")/admin/status" | jq .players) ))
        done
        [ "$total" -ge "$players" ] && break
        sleep 1
        waited=$((waited + 1))
    done
    echo "arena: $total/$players bots connected after $waited s; measuring $duration s" >&2
    declare -A sum0 count0 worst
    for i in $(seq 1 "$apps"); do
        local m
        m=$(curl -s "http://127.0.0.1:$(port ca "app-$i-admin")/metrics")
        sum0[$i]=$(awk '/^tickforge_store_commit_seconds_sum/ {print $2}' <<<"$m")
        count0[$i]=$(awk '/^tickforge_store_commit_seconds_count/ {print $2}' <<<"$m")
        worst[$i]=0
    done
    local end=$(( $(date +%s) + duration ))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep 10
        for i in $(seq 1 "$apps"); do
            local p99
            p99=$(curl -s -H "Authorization: Bearer $tok" "http://127.0.0.1:$(port ca "app-$i-admin")/admin/status" | jq '.tick_ms_10s.p99')
            worst[$i]=$(awk -v a="${worst[$i]}" -v b="$p99" 'BEGIN { print (b > a ? b : a) }')
        done
    done
    echo "| app server | players | tick p99 (worst 10-s window) | store commits | commit mean |"
    echo "|---|---|---|---|---|"
    for i in $(seq 1 "$apps"); do
        local a m players_now
        a="http://127.0.0.1:$(port ca "app-$i-admin")"
        m=$(curl -s "$a/metrics")
        players_now=$(curl -s -H "Authorization: Bearer $tok" "$a/admin/status" | jq .players)
        awk -v i="$i" -v p="$players_now" -v w="${worst[$i]}" -v s0="${sum0[$i]}" -v c0="${count0[$i]}" \
            -v s1="$(awk '/^tickforge_store_commit_seconds_sum/ {print $2}' <<<"$m")" \
            -v c1="$(awk '/^tickforge_store_commit_seconds_count/ {print $2}' <<<"$m")" \
            'BEGIN { c = c1 - c0; printf "| app-%d (PostgreSQL) | %d | %.2f ms | %d | %.2f ms |\n", i, p, w, c, c ? 1000 * (s1 - s0) / c : 0 }'
    done
    kill %1 2>/dev/null || true
    wait 2>/dev/null || true
    TICKFORGE_CLUSTER_DIR=$work/ca scripts/cluster.sh down >/dev/null 2>&1
    # The same load per server on one process, embedded SQLite.
    local per=$(( players / apps ))
    mkdir -p "$work/solo"
    TICKFORGE_ADMIN_TOKEN=bench-admin-token-0123 "$bin/tickforge-server" --data-dir "$work/solo" --http 127.0.0.1:0 \
        --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 --hash-workers 2 --max-registrations-per-hour 0 >"$work/solo.out" 2>"$work/solo.log" &
    await_line "$work/solo.out" "http=" $! "$work/solo.log"
    local api admin
    api=http://$(grep -o 'http=[^ ]*' "$work/solo.out" | cut -d= -f2)
    admin=http://$(grep -o 'admin=[^ ]*' "$work/solo.out" | cut -d= -f2)
    "$bin/tickforge-client" --server "$api" --bots "$per" --bot-prefix solo --moves random \
        --duration $(( duration + 30 + per / 8 )) >/dev/null 2>&1 &
    waited=0
    while [ "$(curl -s -H 'Authorization: Bearer bench-admin-token-0123' "$admin/admin/status" | jq .players)" -lt "$per" ] &&
        [ $waited -lt $(( 30 + per / 8 )) ]; do sleep 1; waited=$((waited + 1)); done
    local m0 m1 worst_solo=0
    m0=$(curl -s "$admin/metrics")
    end=$(( $(date +%s) + duration ))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep 10
        local p99
        p99=$(curl -s -H 'Authorization: Bearer bench-admin-token-0123' "$admin/admin/status" | jq '.tick_ms_10s.p99')
        worst_solo=$(awk -v a="$worst_solo" -v b="$p99" 'BEGIN { print (b > a ? b : a) }')
    done
    m1=$(curl -s "$admin/metrics")
    awk -v p="$(curl -s -H 'Authorization: Bearer bench-admin-token-0123' "$admin/admin/status" | jq .players)" -v w="$worst_solo" \
        -v s0="$(awk '/^tickforge_store_commit_seconds_sum/ {print $2}' <<<"$m0")" \
        -v c0="$(awk '/^tickforge_store_commit_seconds_count/ {print $2}' <<<"$m0")" \
        -v s1="$(awk '/^tickforge_store_commit_seconds_sum/ {print $2}' <<<"$m1")" \
        -v c1="$(awk '/^tickforge_store_commit_seconds_count/ {print $2}' <<<"$m1")" \
        'BEGIN { c = c1 - c0; printf "| one --role all (SQLite) | %d | %.2f ms | %d | %.2f ms |\n", p, w, c, c ? 1000 * (s1 - s0) / c : 0 }'
}

rollout_bench() {
    cluster_up cr --auth 1 --app "$apps" -- --hash-workers 2 --max-registrations-per-hour 0
    local gw
    gw=$(cat "$work/cr/gateway")
    local ramp=$(( 60 + players / 2 ))
    "$bin/tickforge-client" --server "$gw" --bots "$players" --bot-prefix roll --moves random --chat-rate 1 \
        --duration $(( ramp + 40 )) >"$work/rollout-bots.jsonl" 2>"$work/rollout-bots.log" &
    local bots=$!
    local waited=0
    connected() {
        local c
        c=$(tail -1 "$work/rollout-bots.jsonl" 2>/dev/null | jq -r '.connected // 0' 2>/dev/null || true)
        echo "${c:-0}"
    }
    while [ "$(connected)" -lt "$players" ] && [ $waited -lt "$ramp" ]; do sleep 1; waited=$((waited + 1)); done
    sleep 5
    echo "rollout: $(connected)/$players bots playing after $waited s; deploying green" >&2
    TICKFORGE_CLUSTER_DIR=$work/cr scripts/deploy.sh green | tee "$work/deploy.out" >&2 || true
    wait "$bots" || true
    tail -1 "$work/rollout-bots.jsonl" | jq -c '{bots, logins, connected_at_end, ended_early, reconnects, transfers,
        transfer_mismatches, transfer_pause_p50_ms, transfer_pause_p99_ms, transfer_pause_max_ms, chat_sent, chat_received,
        chat_out_of_order}'
    # The report for scripts/plot.sh: the same, each moved bot's pause, and the deploy's own.
    mkdir -p target/reports
    tail -1 "$work/rollout-bots.jsonl" | jq --argjson deploy "$(sed -n '/^{/,/^}/p' "$work/deploy.out" | jq -c . 2>/dev/null || echo null)" \
        '{report: "rollout", bots, connected_at_end, ended_early, reconnects, transfers, transfer_mismatches,
          transfer_pause_p50_ms, transfer_pause_p99_ms, transfer_pause_max_ms, transfer_pauses_ms, deploy: $deploy}' \
        >target/reports/rollout.json
    echo "rollout: report in target/reports/rollout.json" >&2
    TICKFORGE_CLUSTER_DIR=$work/cr scripts/cluster.sh down >/dev/null 2>&1
}

failover_bench() {
    cluster_up cf --auth 1 --app 1 -- --hash-workers 2 --max-registrations-per-hour 0
    local gw dir=$work/cf
    gw=$(cat "$dir/gateway")
    local ramp=$(( 30 + players / 4 ))
    "$bin/tickforge-client" --server "$gw" --bots "$players" --bot-prefix fail --moves random \
        --duration $(( ramp + 45 )) >"$work/failover-bots.jsonl" 2>"$work/failover-bots.log" &
    local bots=$! waited=0
    connected() {
        local c
        c=$(tail -1 "$work/failover-bots.jsonl" 2>/dev/null | jq -r '.connected // 0' 2>/dev/null || true)
        echo "${c:-0}"
    }
    while [ "$(connected)" -lt "$players" ] && [ $waited -lt "$ramp" ]; do sleep 1; waited=$((waited + 1)); done
    # A second server of the same colour, for the players to come back to.
    mkdir -p "$dir/app-2"
    echo "--colour blue" >"$dir/app-2/flags"
    echo app-2 >>"$dir/app-nodes"
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh start app-2 >/dev/null
    local admin tok
    admin=http://127.0.0.1:$(port cf auth-1-admin)
    tok=$(token cf)
    app2_ready() {
        curl -s -H "Authorization: Bearer $tok" "$admin/admin/cluster" |
            jq -e '.servers[] | select(.id == "app-2" and .state == "ready")'
    }
    await 60 "app-2 to be ready" app2_ready
    sleep 8.5
    echo "failover: $(connected)/$players bots on app-1 after $waited s; kill -9 app-1" >&2
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh kill app-1 >&2
    wait "$bots" || true
    tail -1 "$work/failover-bots.jsonl" | jq -c '{bots, connected_at_end, ended_early, reconnects, outage_p50_ms,
        outage_p99_ms, longest_outage_ms, longest_rewind_ms}'
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh down >/dev/null 2>&1
}

database_bench() {
    local dir=$work/cd url
    cargo build --release -p tickforge-server --example commit_latency
    local latency=$PWD/target/release/examples/commit_latency
    cluster_up cd --auth 1 --app 1 --db-standby -- --save-interval 5 --max-registrations-per-hour 0
    url=$(cat "$dir/database")
    echo "| database | commits | p50 | p99 | mean | max |"
    echo "|---|---|---|---|---|---|"
    row() {
        "$latency" "$url" "$commits" | awk -v what="$1" '/commits:/ {
            gsub(",", ""); printf "| %s | %s | %s ms | %s ms | %s ms | %s ms |\n", what, $1, $4, $7, $10, $13 }'
    }
    row "primary + synchronous standby (loopback)"
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh kill db2 >/dev/null
    row "primary alone (standby killed: degraded)"
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh up --db-standby >/dev/null
    # A failover under play: bots on the app server, a store writing
    # beside them, the primary stopped and the standby promoted.
    local gw
    gw=$(cat "$dir/gateway")
    "$bin/tickforge-client" --server "$gw" --bots "$players" --bot-prefix dbf --moves random \
        --duration 40 >"$work/dbf-bots.jsonl" 2>"$work/dbf-bots.log" &
    local bots=$!
    sleep 15
    "$latency" "$url" 4000 >"$work/dbf-latency.txt" &
    local writer=$!
    sleep 2
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh failover >&2
    wait "$writer"
    echo
    echo "failover under $players bots: $(sed -n 2p "$work/dbf-latency.txt")"
    for node in auth-1 app-1; do
        echo "$node: store outage $(curl -s "http://127.0.0.1:$(port cd "$node-admin")/metrics" |
            awk '/^tickforge_store_last_outage_seconds/ { printf "%.3f s", $2 }'), skipped ticks $(curl -s \
            -H "Authorization: Bearer $(token cd)" "http://127.0.0.1:$(port cd "$node-admin")/admin/status" |
            jq -r '.skipped_ticks // "-"')"
    done
    wait "$bots" || true
    tail -1 "$work/dbf-bots.jsonl" | jq -c '{bots, connected_at_end, ended_early, reconnects, longest_outage_ms}'
    TICKFORGE_CLUSTER_DIR=$dir scripts/cluster.sh down >/dev/null 2>&1
}

blackout_bench() {
    local dark=${duration_given:-5} netem_port
    netem_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$work/solo"
    TICKFORGE_ADMIN_TOKEN=bench-admin-token-0123 "$bin/tickforge-server" --data-dir "$work/solo" --http 127.0.0.1:0 \
        --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 --public-addr 127.0.0.1:"$netem_port" --max-registrations-per-hour 0 \
        >"$work/solo.out" 2>"$work/solo.log" &
    await_line "$work/solo.out" "http=" $! "$work/solo.log"
    local api udp
    api=http://$(grep -o 'http=[^ ]*' "$work/solo.out" | cut -d= -f2)
    udp=$(grep -o 'udp=[^ ]*' "$work/solo.out" | cut -d= -f2)
    "$bin/tickforge-netem" --listen 127.0.0.1:"$netem_port" --forward "$udp" --blackout "6+$dark" \
        2>"$work/netem.log" &
    "$bin/tickforge-client" --server "$api" --headless --register --user dark --password "correct horse" \
        --moves circle --duration $(( dark + 16 )) >"$work/blackout.jsonl" 2>"$work/blackout.log"
    tail -1 "$work/blackout.jsonl" | jq -c --argjson dark "$dark" '{blackout_s: $dark, reconnects, longest_outage_ms,
        back_after_link_ms: (.longest_outage_ms - $dark * 1000), longest_rewind_ms, error}'
}

case $mode in
    database) database_bench ;;
    failover) failover_bench ;;
    blackout) blackout_bench ;;
    rollout) rollout_bench ;;
    logins) logins_bench ;;
    arena) arena_bench ;;
    *) usage ;;
esac
