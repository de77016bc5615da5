#!/usr/bin/env bash
# Where the server's CPU goes: the arena server under load, sampled by
# perf, its self time grouped by owner and by thread.
#
#   scripts/cpu-profile.sh [--players N] [--seconds S] [--npcs M] [--out DIR]
#
# Defaults: 1000 players, 20 s once all are in, 200 NPCs, the view radius
# loadtest.sh picks at that density (~100 in view); the server on core 0
# and the bots on core 1 (where there are two). perf samples the server's
# threads at ~1 kHz (software clock; no hardware counters needed) and the
# script prints two tables: self time by owner (the kernel's network
# stack, its scheduling and waits, its system-call entry; renet; our
# netcode layer; the AEAD; bevy_ecs; each module of ours; the allocator
# and libc's copies; the standard library's generic code, whose callers
# are not known without call graphs) and by thread, each as a share of the
# samples and as µs of CPU per player-tick (the server's CPU over the
# window ÷ players × ticks at 30 Hz, split by share). Installs linux-perf
# (Debian) when perf is missing; builds release binaries unless
# TICKFORGE_BIN_DIR names built ones. The samples stay in DIR (default
# target/cpu; read them with perf report -i DIR/cpu-N.data).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

players=1000 seconds=20 npcs=200 out=target/cpu
while [ $# -gt 0 ]; do
    case $1 in
        --players) players=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --npcs) npcs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "cpu-profile: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$players" -gt 0 ] 2>/dev/null || { echo "cpu-profile: --players wants a count" >&2; exit 2; }

need_package perf linux-perf
bin=$(release_binaries)
pin_server=() pin_bots=()
if [ "$(nproc)" -ge 2 ]; then pin_server=(taskset -c 0); pin_bots=(taskset -c 1); fi
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
radius=$(view_radius_for $(( players + npcs )) 4000000)  # the arena is 2000 x 2000
TICKFORGE_ADMIN_TOKEN=$token "${pin_server[@]}" "$bin/tickforge-server" --game arena \
    --data-dir "$work/db" --http 127.0.0.1:0 --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 \
    --max-players $(( players + 24 )) --npcs "$npcs" --view-radius "$radius" --hash-workers "$(nproc)" \
    --max-registrations-per-hour 0 >"$work/out" 2>"$work/log" &
server=$!
pids+=("$server")
await_line "$work/out" "http=" "$server" "$work/log" 120
api=http://$(grep -o 'http=[^ ]*' "$work/out" | cut -d= -f2)
admin=http://$(grep -o 'admin=[^ ]*' "$work/out" | cut -d= -f2)
ramp=$(( 30 + players / 6 ))
"${pin_bots[@]}" "$bin/tickforge-client" --server "$api" --bots "$players" --bot-prefix "cpu$players" --game arena \
    --moves random --duration $(( ramp + seconds + 10 )) >"$work/bots.jsonl" 2>"$work/bots.log" &
pids+=("$!")
in_game() { curl -sf -H "Authorization: Bearer $token" "$admin/admin/status" | jq -e ".players >= $players"; }
await "$ramp" "$players players on the server" in_game
kill -0 "$server" 2>/dev/null || { echo "cpu-profile: the server exited; the end of its log:" >&2; tail -n 20 "$work/log" >&2; exit 1; }
echo "cpu-profile: $players players in; sampling the server for $seconds s" >&2

# The server's CPU (user + system clock ticks) around the sampled window.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before=$(cpu_ticks)
perf record -q -F 997 -p "$server" -o "$out/cpu-$players.data" -- sleep "$seconds" 2>"$work/perf.log" \
    || { echo "cpu-profile: perf record failed:" >&2; cat "$work/perf.log" >&2; exit 1; }
after=$(cpu_ticks)
hz=$(getconf CLK_TCK)
status=$(curl -sf -H "Authorization: Bearer $token" "$admin/admin/status")
echo "cpu-profile: $(jq -r '.players' <<<"$status") players at the end; reading the samples" >&2
perf report -i "$out/cpu-$players.data" --no-children --sort comm,dso,symbol --stdio -q -g none \
    --percent-limit 0 2>/dev/null >"$out/cpu-$players.txt"

python3 - "$out/cpu-$players.txt" "$players" "$seconds" "$(( after - before ))" "$hz" <<'PY'
import re, sys
from collections import Counter

path, players, seconds, ticks, hz = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu_us = ticks / hz * 1e6
per_player_tick = cpu_us / (players * seconds * 30)

KERNEL = [
    ("kernel: network stack (UDP, IP, loopback, sockets)",
     r"udp|^ip_|ipv4|^ip6|^__ip|inet|^sock|^sk_|skb|^__dev|^dev_|netif|net_rx|napi|^__netif|loopback|"
     r"^__sys_send|^__sys_recv|sendmsg|recvmsg|^___sys|^__skb|nf_|^__copy_skb|csum|^fib|^rt_|dst_|neigh|"
     r"^__udp|^raw_|^process_backlog|^__napi|^__local_bh|do_softirq|__do_softirq|^net_"),
    ("kernel: waits and scheduling (epoll, futex, wakeups, switches)",
     r"^ep_|epoll|futex|schedule|^__schedule|wake|^__switch|switch_to|finish_task|^pick_|enqueue|dequeue|"
     r"update_curr|hrtimer|^__hrtimer|nanosleep|^tick_|^timerqueue|^select_task|^ttwu|idle|^rcu|^update_"),
    ("kernel: system-call entry and exit",
     r"^entry_|syscall|^__x64|^do_syscall|^exit_to_user|^syscall_exit|^__fdget|^fput|^__fget|^_copy|copy_user|"
     r"^copy_|^__check_object|^check_heap|^__virt_addr|^rep_movs"),
]
GROUPS = [
    (r"^renet::|^<renet::", "renet"),
    (r"^tickforge_netcode::|^<tickforge_netcode::", "netcode (ours: netcode/)"),
    (r"chacha|poly1305|^aead::|^<aead::|universal_hash|^cipher::|^<cipher::", "AEAD (chacha20poly1305)"),
    (r"^bevy_|^<bevy_", "bevy_ecs"),
    (r"^bincode::|^<bincode::", "bincode"),
    (r"^tokio::|^<tokio::|^mio::|^<mio::", "tokio"),
    (r"sqlite3|^rusqlite::|^<rusqlite::", "sqlite"),
    (r"^crossbeam|^<crossbeam", "crossbeam"),
    (r"^(malloc|free|cfree|realloc|calloc|_int_malloc|_int_free|_int_realloc|__libc_malloc|__libc_free|"
     r"__libc_realloc|__libc_calloc|malloc_consolidate|unlink_chunk|tcache|__rust_alloc|__rust_dealloc|"
     r"__rust_realloc|__rdl_)", "allocator (malloc, free)"),
    (r"^(__memcpy|memcpy|__memmove|memmove|__memset|memset|__memcmp|memcmp|bcmp|__nss)", "libc copies (memcpy, memset)"),
]


def owner(dso, sym):
    if dso.startswith("[kernel"):
        name = sym
        for label, pattern in KERNEL:
            if re.search(pattern, name):
                return label
        return "kernel: other"
    for pattern, label in GROUPS:
        if re.search(pattern, sym):
            return label
    m = re.match(r"<?(tickforge_\w+)::(\w+)(?:::(\w+))?", sym)
    if m:
        crate, module, sub = m.group(1), m.group(2), m.group(3)
        crate = crate.removeprefix("tickforge_")
        # Two levels of our module path: server::game, server::net::datagrams …
        if sub and sub[0].islower() and module in ("game", "net", "store", "side", "admin", "auth"):
            return f"ours: {crate}::{module}::{sub}"
        return f"ours: {crate}::{module}"
    m = re.match(r"<?(core|alloc|std|hashbrown)::", sym)
    if m:
        return "std (generic code; its caller is not known)"
    if dso.startswith("libc") or dso.startswith("ld-linux"):
        return "libc other"
    m = re.match(r"<?([a-z_][a-z0-9_]*)::", sym)
    if m:
        return m.group(1)
    return "unresolved (no symbol)" if sym.startswith("0x") else f"other ({dso})"


by_owner, by_thread, total = Counter(), Counter(), 0.0
line_re = re.compile(r"^\s*([0-9.]+)%\s+(\S+)\s+(\S+)\s+\[([.k])\]\s+(.*?)\s*$")
for line in open(path, errors="replace"):
    m = line_re.match(line)
    if not m:
        continue
    share, comm, dso, _, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5)
    by_owner[owner(dso, sym)] += share
    by_thread[comm] += share
    total += share
if total == 0:
    sys.exit("cpu-profile: perf recorded no samples of the server")


def table(title, counter):
    print(f"\n| {title} | share of the server's samples | µs per player-tick |")
    print("|---|---|---|")
    for key, share in counter.most_common():
        if share / total >= 0.003:
            print(f"| {key} | {share / total * 100:.1f} % | {share / total * per_player_tick:.2f} |")
    print(f"| **all** | 100 % | **{per_player_tick:.2f}** |")


print(f"\n{players} players, {seconds:g} s: the server used {cpu_us / 1e6:.2f} s of CPU "
      f"({cpu_us / 1e6 / seconds * 100:.1f} % of a core), {per_player_tick:.2f} µs per player-tick at 30 Hz")
table("owner (self time)", by_owner)
table("thread", by_thread)
PY
