#!/usr/bin/env bash
# Where a player's memory goes: the arena server under heaptrack at two
# player counts, its heap at its peak grouped by owner, and the difference
# per added player.
#
#   scripts/heap-profile.sh [--players A,B] [--seconds S] [--npcs M] [--out DIR]
#
# Defaults: 100,300 players, 40 s each once all are in, 200 NPCs, the view
# radius loadtest.sh picks at each count's density (~100 in view). For each
# count it prints the server's peak heap by owner (renet, our netcode layer,
# snapshots, bevy's world, the store and the rest), its RSS and heap at the
# end, then a table of the per-player difference between the two counts: the
# fixed cost of the process cancels, what each player adds remains.
# Installs heaptrack (Debian) when it is missing; builds release binaries
# unless TICKFORGE_BIN_DIR names built ones. The raw profiles stay in
# DIR (default target/heap; read them with heaptrack_print or heaptrack_gui).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

counts=100,300 seconds=40 npcs=200 out=target/heap
while [ $# -gt 0 ]; do
    case $1 in
        --players) counts=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --npcs) npcs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "heap-profile: unknown argument $1" >&2; exit 2 ;;
    esac
done
IFS=, read -r low high <<<"$counts"
[ -n "${low:-}" ] && [ -n "${high:-}" ] && [ "$high" -gt "$low" ] \
    || { echo "heap-profile: --players wants two counts, the second larger (e.g. 100,300)" >&2; exit 2; }

need_package heaptrack heaptrack
bin=$(release_binaries)
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# profile N: one run at N players; leaves $out/heap-N.zst and
# $out/heap-N.rss (RSS KiB at the end of the window).
profile() {
    local n=$1 data=$work/$1 token radius
    mkdir -p "$data"
    token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    radius=$(view_radius_for $(( n + npcs )) 4000000)  # the arena is 2000 x 2000
    rm -f "$out/heap-$n".*
    TICKFORGE_ADMIN_TOKEN=$token heaptrack -o "$out/heap-$n" "$bin/tickforge-server" --game arena \
        --data-dir "$data/db" --http 127.0.0.1:0 --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 \
        --max-players 1024 --npcs "$npcs" --view-radius "$radius" --hash-workers "$(nproc)" \
        --max-registrations-per-hour 0 >"$data/out" 2>"$data/log" &
    local server=$!
    pids+=("$server")
    await_line "$data/out" "http=" "$server" "$data/log" 120
    local api admin pid
    api=http://$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
    admin=http://$(grep -o 'admin=[^ ]*' "$data/out" | cut -d= -f2)
    pid=$(pgrep -n -f "^$bin/tickforge-server --game arena --data-dir $data/db") \
        || { echo "heap-profile: the server under heaptrack has no process" >&2; exit 1; }
    local ramp=$(( 30 + n / 6 ))
    "$bin/tickforge-client" --server "$api" --bots "$n" --bot-prefix "heap$n" --game arena --moves random \
        --duration $(( ramp + seconds + 5 )) >"$data/bots.jsonl" 2>"$data/bots.log" &
    pids+=("$!")
    players() { curl -sf -H "Authorization: Bearer $token" "$admin/admin/status" | jq -e ".players >= $n"; }
    await "$ramp" "$n players on the server" players
    echo "heap-profile: $n players in; $seconds s of play" >&2
    sleep "$seconds"
    awk '/VmRSS/ {print $2}' "/proc/$pid/status" >"$out/heap-$n.rss"
    kill -TERM "$pid"
    local waited=0
    while kill -0 "$server" 2>/dev/null && [ $waited -lt 300 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill -0 "$server" 2>/dev/null && { echo "heap-profile: the server did not stop" >&2; exit 1; }
    # Every backtrace at the heap's peak (not only the top ones).
    heaptrack_print -f "$out/heap-$n.zst" -p 1 -a 0 -T 0 -l 0 -n 1000000 -s 1000000 >"$out/heap-$n.txt"
}

profile "$low"
profile "$high"
# Each backtrace's bytes at the peak go to the innermost frame with an
# owner: a workspace file, or a crate (the standard library and plain
# containers such as hashbrown are not owners; their caller is).
python3 - "$low" "$out/heap-$low.txt" "$(cat "$out/heap-$low.rss")" \
    "$high" "$out/heap-$high.txt" "$(cat "$out/heap-$high.rss")" <<'PY'
import glob, os, re, sys
from collections import Counter

UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
CONTAINERS = {"hashbrown", "indexmap", "smallvec", "bytes", "fixedbitset", "bevy_ptr", "bevy_platform"}
# Crates whose files heaptrack may name relative to the crate ("src/...").
RELATIVE = ["renet", "bevy_ecs", "tokio"]
REGISTRY = os.path.expanduser("~/.cargo/registry/src/*")


def size(text):
    m = re.fullmatch(r"([0-9.]+)([BKMG])", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def owner(path, cache={}):
    """Who a source path belongs to, or None for std and containers."""
    m = re.search(r"/(?:registry/src/[^/]+|deps)/([A-Za-z0-9_-]+?)-\d+\.\d+\.\d+[^/]*/", path)
    if m:
        return None if m.group(1) in CONTAINERS else m.group(1)
    if path.startswith(("/rustc/", "library/", "./", "/usr/", "/rust/")) or "/nptl/" in path:
        return None
    if path.startswith("src/"):
        if path not in cache:
            cache[path] = next(
                (c for c in RELATIVE if glob.glob(f"{REGISTRY}/{c}-[0-9]*/{path}")), f"{path} (a crate's)"
            )
        return cache[path]
    return path  # a workspace file


def load(file):
    peak, block, found = Counter(), None, None
    for line in open(file, errors="replace"):
        m = re.match(r"\s*([0-9.]+[BKMG]) (peak memory )?consumed over \d+ calls from", line)
        if m:
            if block:
                peak[found or "unattributed (libc, std)"] += block
            # A merged location's own line: its backtraces follow, each counted.
            block, found = (0.0 if m.group(2) else size(m.group(1))), None
            continue
        m = re.match(r"\s*at (\S+):\d+", line)
        if m and block and found is None:
            found = owner(m.group(1))
    if block:
        peak[found or "unattributed (libc, std)"] += block
    return peak


lo, lf, lrss, hi, hf, hrss = sys.argv[1:7]
lo, hi = int(lo), int(hi)
a, b = load(lf), load(hf)
added = hi - lo
print(f"\n| owner of the allocation | heap at {lo} players, KiB | at {hi}, KiB | per added player, bytes |")
print("|---|---|---|---|")
for k in sorted(set(a) | set(b), key=lambda k: -(b[k] - a[k])):
    per = (b[k] - a[k]) / added
    if abs(per) >= 32:
        print(f"| {k} | {a[k] / 1024:,.0f} | {b[k] / 1024:,.0f} | {per:,.0f} |")
ta, tb = sum(a.values()), sum(b.values())
print(f"| **heap at its peak** | {ta / 1024:,.0f} | {tb / 1024:,.0f} | **{(tb - ta) / added:,.0f}** |")
lr, hr = int(lrss), int(hrss)
print(f"| RSS at the end (heaptrack's own included) | {lr:,} | {hr:,} | {(hr - lr) * 1024 / added:,.0f} |")
PY
