#!/usr/bin/env bash
# A local Tickforge cluster on loopback, from real parts: a PostgreSQL
# server (Debian's binaries, created on first use), nginx (Debian's) as the
# gateway round-robin over N auth nodes, and N app servers, all sharing one
# database and one netcode key. Everything lives under ./cluster/ (or
# $TICKFORGE_CLUSTER_DIR).
#
#   scripts/cluster.sh up [--auth N] [--app N] [--colour blue|green] [--db-standby]
#                              start (defaults: 2 auth nodes, 2 app servers);
#                              --db-standby: and a synchronous hot standby of
#                              the database (made again if failover used it up)
#   scripts/cluster.sh status  what runs, which database node is primary, the
#                              replication lag, the registry (GET /admin/cluster)
#   scripts/cluster.sh down    stop everything (the data stays; `up` reuses it)
#   scripts/cluster.sh kill NAME     kill -9 one node (app-1, auth-2, …; db1 or
#                                    db2: an immediate stop of that database)
#   scripts/cluster.sh start NAME    start that node again
#   scripts/cluster.sh failover      stop the primary database, promote the standby
#
# Then: tickforge-client --server "$(cat cluster/gateway)" --register …
#
# TICKFORGE_BIN_DIR: use binaries already built there (default: build
# release binaries). Needs postgresql and nginx (`apt-get install
# postgresql nginx`); as root, PostgreSQL runs as the postgres user.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${TICKFORGE_CLUSTER_DIR:-$PWD/cluster}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A port remembered in the cluster dir, so `up` after `down` keeps addresses.
port_of() {
    local file="$dir/ports/$1"
    mkdir -p "$dir/ports"
    [ -s "$file" ] || free_port >"$file"
    cat "$file"
}

pg_bin() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)
    [ -n "$initdb" ] || die "PostgreSQL is not installed: apt-get install postgresql"
    dirname "$initdb"
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bin_dir() {
    if [ -n "${TICKFORGE_BIN_DIR:-}" ]; then
        echo "$TICKFORGE_BIN_DIR"
    else
        cargo build --release -p tickforge-server -p tickforge-client >&2
        echo "$PWD/target/release"
    fi
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

# The database nodes: db1 (files in pg/, created first) and db2 (pg2/, the
# standby `up --db-standby` makes). Each runs as its own cluster_name, the
# name its primary knows it by in pg_stat_replication.
DB_NODES="db1 db2"
# The standbys a commit waits for (whichever of the two is not primary).
SYNC_NAMES="ANY 1 (db1, db2)"

db_dir() { case $1 in db1) echo "$dir/pg" ;; db2) echo "$dir/pg2" ;; *) die "unknown database node $1" ;; esac; }
db_port() { case $1 in db1) port_of postgres ;; db2) port_of postgres2 ;; esac; }
db_exists() { [ -f "$(db_dir "$1")/data/PG_VERSION" ]; }
db_running() { db_exists "$1" && as_pg "$(pg_bin)/pg_ctl" -D "$(db_dir "$1")/data" status >/dev/null 2>&1; }
# A node stopped by `failover`: its files may hold writes the new primary
# never saw, so it never starts again as it is (`up --db-standby` makes it
# a fresh standby).
db_stale() { [ -e "$(db_dir "$1")/stale" ]; }

psql_at() {
    local port=$1
    shift
    as_pg "$(pg_bin)/psql" -h 127.0.0.1 -p "$port" -U tickforge -d postgres -X -q -tA "$@"
}

# Whether a running node is primary (not in recovery).
db_is_primary() { [ "$(psql_at "$(db_port "$1")" -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; }

db_primary() {
    local node
    for node in $DB_NODES; do
        if db_running "$node" && db_is_primary "$node"; then
            echo "$node"
            return 0
        fi
    done
    return 1
}

db_start() {
    local node=$1 ddir port
    ddir=$(db_dir "$node")
    port=$(db_port "$node")
    db_stale "$node" && return 0
    db_running "$node" && return 0
    as_pg "$(pg_bin)/pg_ctl" -D "$ddir/data" -l "$ddir/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $ddir -c fsync=on -c cluster_name=$node" start >/dev/null ||
        die "PostgreSQL ($node) did not start; see $ddir/postgres.log"
}

db_stop() {
    local node=$1 mode=${2:-fast}
    db_running "$node" || return 0
    as_pg "$(pg_bin)/pg_ctl" -D "$(db_dir "$node")/data" -m "$mode" -w stop >/dev/null 2>&1 || true
}

# Every database node's address, for a URL that finds whichever is primary.
db_url() {
    local hosts="" node
    for node in $DB_NODES; do
        db_exists "$node" || continue
        hosts+="${hosts:+,}127.0.0.1:$(db_port "$node")"
    done
    if [[ $hosts == *,* ]]; then
        echo "postgres://tickforge@$hosts/tickforge?target_session_attrs=read-write"
    else
        echo "postgres://tickforge@$hosts/tickforge"
    fi
}

pg_up() {
    local bin port primary node
    bin=$(pg_bin)
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$dir"; then
        die "the postgres user cannot enter $dir; choose a cluster dir it can reach with TICKFORGE_CLUSTER_DIR"
    fi
    if ! db_exists db1 && ! db_exists db2; then
        mkdir -p "$dir/pg"
        [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pg"
        as_pg "$bin/initdb" -D "$dir/pg/data" -U tickforge --auth=trust -E UTF8 >"$dir/pg/initdb.log" 2>&1 ||
            die "initdb failed; see $dir/pg/initdb.log"
    fi
    for node in $DB_NODES; do
        if db_exists "$node"; then db_start "$node"; fi
    done
    primary=$(db_primary) || die "no database node is primary; see $dir/pg*/postgres.log"
    port=$(db_port "$primary")
    if ! psql_at "$port" -c "SELECT 1 FROM pg_database WHERE datname = 'tickforge'" | grep -q 1; then
        as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U tickforge tickforge
    fi
    db_url >"$dir/database"
}

# A standby of the primary, made with pg_basebackup and streaming; once it
# streams, commits on the primary wait for it (synchronous replication).
standby_up() {
    local bin primary standby sdir node waited=0
    bin=$(pg_bin)
    primary=$(db_primary) || die "no primary database node to make a standby of"
    standby=db2
    [ "$primary" = db2 ] && standby=db1
    sdir=$(db_dir "$standby")
    if db_stale "$standby" || ! db_exists "$standby"; then
        db_stop "$standby" immediate
        rm -rf "$sdir"
        mkdir -p "$sdir"
        [ "$(id -u)" -eq 0 ] && chown postgres "$sdir"
        as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$(db_port "$primary")" -U tickforge -D "$sdir/data" \
            -X stream -R -c fast >"$sdir/basebackup.log" 2>&1 || die "pg_basebackup failed; see $sdir/basebackup.log"
    fi
    db_start "$standby"
    until [ "$(psql_at "$(db_port "$primary")" -c "SELECT count(*) FROM pg_stat_replication
            WHERE application_name = '$standby' AND state = 'streaming'")" = 1 ]; do
        sleep 0.2
        waited=$((waited + 1))
        [ $waited -lt 300 ] || die "the standby $standby does not stream; see $sdir/postgres.log"
    done
    # The names a commit waits for, on every node, in a file of their own
    # (included from postgresql.conf). Each server's watch
    # clears synchronous_standby_names while no standby streams and sets it
    # back from tickforge.synchronous_standby once one does.
    for node in $DB_NODES; do
        db_exists "$node" || continue
        grep -q "tickforge.conf" "$(db_dir "$node")/data/postgresql.conf" ||
            as_pg sh -c "echo \"include_if_exists = 'tickforge.conf'\" >>'$(db_dir "$node")/data/postgresql.conf'"
        as_pg sh -c "printf '%s\n' \"synchronous_standby_names = '$SYNC_NAMES'\" \
            \"tickforge.synchronous_standby = '$SYNC_NAMES'\" >'$(db_dir "$node")/data/tickforge.conf'"
    done
    psql_at "$(db_port "$primary")" -c "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
    for node in $DB_NODES; do
        if db_running "$node"; then psql_at "$(db_port "$node")" -c "SELECT pg_reload_conf()" >/dev/null; fi
    done
    db_url >"$dir/database"
}

pg_down() {
    local node
    for node in $DB_NODES; do db_stop "$node"; done
}

# Stops the primary as a crash would (immediate: no shutdown checkpoint),
# promotes the standby, and marks the old primary stale.
failover() {
    local primary standby="" node started
    primary=$(db_primary) || die "no primary database node is running"
    for node in $DB_NODES; do
        if [ "$node" != "$primary" ] && db_running "$node"; then standby=$node; fi
    done
    [ -n "$standby" ] || die "no standby to promote (scripts/cluster.sh up --db-standby)"
    started=$(date +%s%N)
    db_stop "$primary" immediate
    touch "$(db_dir "$primary")/stale"
    as_pg "$(pg_bin)/pg_ctl" -D "$(db_dir "$standby")/data" -w -t 60 promote >/dev/null ||
        die "promoting $standby failed; see $(db_dir "$standby")/postgres.log"
    echo "stopped $primary, promoted $standby in $((($(date +%s%N) - started) / 1000000)) ms"
    echo "servers follow it by themselves; 'scripts/cluster.sh up --db-standby' makes $primary its new standby"
}

db_status() {
    local node state primary
    for node in $DB_NODES; do
        db_exists "$node" || continue
        if db_stale "$node"; then
            state="stale (stopped by failover)"
        elif db_running "$node"; then
            state="up $(db_is_primary "$node" && echo primary || echo standby)"
        else
            state=down
        fi
        echo "$node 127.0.0.1:$(db_port "$node") $state"
    done
    if primary=$(db_primary); then
        psql_at "$(db_port "$primary")" -F ' ' \
            -c "SELECT '  standby ' || application_name, state, sync_state, 'lag',
                coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, 'bytes',
                coalesce(replay_lag::text, '-') FROM pg_stat_replication" \
            -c "SELECT '  synchronous_standby_names = ' || quote_literal(current_setting('synchronous_standby_names'))"
    fi
}

secrets() {
    if [ ! -s "$dir/private.key" ]; then
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$dir/private.key")
    fi
    chmod 600 "$dir/private.key"
    if [ ! -s "$dir/admin-token" ]; then
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/admin-token")
    fi
}

# start_node NAME ROLE: with the flags `up` stored for it in NAME/flags.
start_node() {
    local name=$1 role=$2 bin
    bin=$(cat "$dir/bin")
    mkdir -p "$dir/$name"
    alive "$dir/$name/pid" && return 0
    rm -f "$dir/$name/out"
    local flags=(--role "$role" --data-dir "$dir/$name" --key-file "$dir/private.key"
        --admin "127.0.0.1:$(port_of "$name-admin")")
    case $role in
        # nginx (on 127.0.0.1) names each client in X-Forwarded-For.
        auth) flags+=(--http "127.0.0.1:$(port_of "$name-http")" --trusted-proxy 127.0.0.1) ;;
        app)
            # Browsers reach it through the gateway, at /ws/NAME.
            local gateway="127.0.0.1:$(port_of gateway)"
            flags+=(--udp "127.0.0.1:$(port_of "$name-udp")" --server-id "$name"
                --ws "127.0.0.1:$(port_of "$name-ws")" --public-ws "ws://$gateway/ws/$name"
                --allowed-origin "http://$gateway" --trusted-proxy 127.0.0.1) ;;
    esac
    TICKFORGE_DATABASE_URL=$(cat "$dir/database") TICKFORGE_ADMIN_TOKEN=$(cat "$dir/admin-token") \
        setsid "$bin/tickforge-server" "${flags[@]}" $(cat "$dir/$name/flags" 2>/dev/null) \
        >"$dir/$name/out" 2>"$dir/$name/log" </dev/null &
    echo $! >"$dir/$name/pid"
    local waited=0
    until grep -q "admin=" "$dir/$name/out" 2>/dev/null; do
        alive "$dir/$name/pid" || die "$name did not start; see $dir/$name/log"
        sleep 0.1
        waited=$((waited + 1))
        [ $waited -lt 600 ] || die "$name did not start within 60 s; see $dir/$name/log"
    done
}

gateway_up() {
    local port upstreams="" websockets=""
    port=$(port_of gateway)
    for node in $(cat "$dir/auth-nodes"); do
        upstreams+="        server 127.0.0.1:$(port_of "$node-http") max_fails=1 fail_timeout=5s;"$'\n'
    done
    # Each app server's WebSocket at /ws/NAME, upgraded through.
    for node in $(cat "$dir/app-nodes" 2>/dev/null); do
        websockets+="        location = /ws/$node {
            proxy_pass http://127.0.0.1:$(port_of "$node-ws")/ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_read_timeout 60s;
        }"$'\n'
    done
    mkdir -p "$dir/nginx"
    cat >"$dir/nginx/nginx.conf" <<EOF
# Written by scripts/cluster.sh: the gateway, round-robin over the auth
# nodes, and each app server's WebSocket at /ws/NAME.
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
daemon on;
events { worker_connections 1024; }
http {
    # Half-sent requests and idle keep-alives are not held for long.
    client_header_timeout 10s;
    client_body_timeout 10s;
    keepalive_timeout 5s;
    access_log $dir/nginx/access.log;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    upstream auth {
$upstreams    }
    server {
        listen 127.0.0.1:$port;
$websockets        location / {
            proxy_pass http://auth;
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 1s;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
        }
    }
}
EOF
    if alive "$dir/nginx/nginx.pid"; then
        nginx -c "$dir/nginx/nginx.conf" -s reload 2>>"$dir/nginx/error.log"
    else
        command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx is not installed: apt-get install nginx"
        PATH=$PATH:/usr/sbin nginx -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" 2>>"$dir/nginx/error.log" ||
            die "nginx did not start; see $dir/nginx/error.log"
    fi
    echo "http://127.0.0.1:$port" >"$dir/gateway"
}

up() {
    local auth=2 app=2 colour=blue extra=() standby=0
    while [ $# -gt 0 ]; do
        case $1 in
            --auth) auth=$2; shift 2 ;;
            --app) app=$2; shift 2 ;;
            --colour) colour=$2; shift 2 ;;
            --db-standby) standby=1; shift ;;
            --) shift; extra=("$@"); break ;;
            *) die "unknown option $1 (see the top of $0)" ;;
        esac
    done
    [ "$auth" -ge 1 ] && [ "$app" -ge 0 ] || die "--auth must be at least 1"
    bin_dir >"$dir/bin"
    secrets
    pg_up
    if [ $standby -eq 1 ]; then standby_up; fi
    : >"$dir/auth-nodes"
    for i in $(seq 1 "$auth"); do
        echo "auth-$i" >>"$dir/auth-nodes"
        mkdir -p "$dir/auth-$i"
        echo "${extra[*]}" >"$dir/auth-$i/flags"
        start_node "auth-$i" auth
    done
    : >"$dir/app-nodes"
    for i in $(seq 1 "$app"); do
        echo "app-$i" >>"$dir/app-nodes"
        mkdir -p "$dir/app-$i"
        echo "--colour $colour ${extra[*]}" >"$dir/app-$i/flags"
        start_node "app-$i" app
    done
    gateway_up
    echo "gateway $(cat "$dir/gateway")"
    echo "admin   $(sed -n 1p "$dir/auth-nodes" | xargs -I{} sh -c 'echo http://127.0.0.1:$(cat '"$dir"'/ports/{}-admin)') (token in $dir/admin-token)"
    echo "database $(cat "$dir/database")"
}

status() {
    [ -s "$dir/gateway" ] || die "no cluster under $dir (scripts/cluster.sh up)"
    echo "gateway $(cat "$dir/gateway") nginx=$(alive "$dir/nginx/nginx.pid" && echo up || echo down)"
    db_status
    for node in $(cat "$dir/auth-nodes" "$dir/app-nodes" 2>/dev/null); do
        echo "$node $(alive "$dir/$node/pid" && echo up || echo down) $(cat "$dir/$node/out" 2>/dev/null | head -1)"
    done
    local admin
    admin="http://127.0.0.1:$(cat "$dir/ports/$(head -1 "$dir/auth-nodes")-admin")"
    curl -s -H "Authorization: Bearer $(cat "$dir/admin-token")" "$admin/admin/cluster" || echo "(registry unavailable)"
    echo
}

down() {
    for node in $(cat "$dir/app-nodes" "$dir/auth-nodes" 2>/dev/null); do
        if alive "$dir/$node/pid"; then
            kill -TERM "$(cat "$dir/$node/pid")" 2>/dev/null || true
        fi
    done
    for node in $(cat "$dir/app-nodes" "$dir/auth-nodes" 2>/dev/null); do
        local waited=0
        while alive "$dir/$node/pid" && [ $waited -lt 150 ]; do sleep 0.1; waited=$((waited + 1)); done
        alive "$dir/$node/pid" && kill -KILL "$(cat "$dir/$node/pid")" 2>/dev/null
        rm -f "$dir/$node/pid"
    done
    if alive "$dir/nginx/nginx.pid"; then
        PATH=$PATH:/usr/sbin nginx -c "$dir/nginx/nginx.conf" -s quit 2>/dev/null || kill "$(cat "$dir/nginx/nginx.pid")"
        local waited=0
        while alive "$dir/nginx/nginx.pid" && [ $waited -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
    fi
    pg_down
    echo "cluster down (data kept in $dir)"
}

node_role() {
    case $1 in auth-*) echo auth ;; app-*) echo app ;; *) die "unknown node $1" ;; esac
}

case ${1:-} in
    up) shift; up "$@" ;;
    status) status ;;
    down) down ;;
    failover) failover ;;
    kill)
        [ -n "${2:-}" ] || die "kill NAME"
        if [[ $2 == db[12] ]]; then
            db_running "$2" || die "$2 is not running"
            db_stop "$2" immediate
            echo "killed $2 (an immediate stop: no shutdown checkpoint)"
            exit 0
        fi
        alive "$dir/$2/pid" || die "$2 is not running"
        kill -KILL "$(cat "$dir/$2/pid")"
        echo "killed $2"
        ;;
    start)
        [ -n "${2:-}" ] || die "start NAME"
        if [[ $2 == db[12] ]]; then
            db_stale "$2" && die "$2 was stopped by failover; 'scripts/cluster.sh up --db-standby' makes it a standby again"
            db_start "$2"
            echo "started $2"
            exit 0
        fi
        start_node "$2" "$(node_role "$2")"
        # A new app server's WebSocket route joins the gateway.
        if [ "$(node_role "$2")" = app ] && alive "$dir/nginx/nginx.pid"; then gateway_up; fi
        echo "started $2"
        ;;
    *) sed -n '2,24p' "$0"; exit 2 ;;
esac
