#!/usr/bin/env bash
# The front door under a half-open flood, measured (release build): one
# host opens CONNECTIONS connections to the auth API that each send half a
# request head and then nothing, and holds them for SECONDS (MODE churn:
# and reopens every one the server closes, as fast as it can), while another address (127.0.0.3) asks /healthz, /v1/login
# and the admin listener's /metrics four times a second. Prints one JSON
# object: the probes' answers and latencies, the server's skipped ticks,
# refusals and timeouts in that time, and how many log lines reported them.
#
#   scripts/flood.sh [CONNECTIONS] [SECONDS] [FROM] [MODE]
#                    (defaults: 20000 60 127.0.0.2 hold; MODE hold|churn)
#
# FROM may be 127.0.0.1, the address the server itself listens on. Needs
# python3; as root the script raises its own open-file limit to hold the
# connections (otherwise it holds what the limit allows, and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
connections=${1:-20000}
seconds=${2:-60}
from=${3:-127.0.0.2}
mode=${4:-hold}
case $mode in hold|churn) ;; *) echo "flood.sh: MODE is hold or churn" >&2; exit 2 ;; esac
cargo build --release --locked -p tickforge-server
data=$(mktemp -d)
token=flood-admin-token-0123456789
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT
TICKFORGE_ADMIN_TOKEN=$token ./target/release/tickforge-server --data-dir "$data/db" --http 127.0.0.1:0 \
    --udp 127.0.0.1:0 --ws 127.0.0.1:0 --admin 127.0.0.1:0 >"$data/out" 2>"$data/log" &
server=$!
await_line "$data/out" "http=" "$server" "$data/log"
http=$(grep -o 'http=[^ ]*' "$data/out" | cut -d= -f2)
admin=$(grep -o 'admin=[^ ]*' "$data/out" | cut -d= -f2)

python3 - "$http" "$admin" "$connections" "$seconds" "$from" "$data/log" "$mode" <<'EOF'
import json, resource, selectors, socket, sys, threading, time

http, admin, want, seconds, source, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
mode = sys.argv[7]
PROBE_FROM = "127.0.0.3"

def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)

def request(base, method, path, body=b""):
    """One request from 127.0.0.3; (status, seconds) or (None, seconds) on no answer in 5 s."""
    start = time.monotonic()
    try:
        s = socket.socket()
        s.settimeout(5)
        s.bind((PROBE_FROM, 0))
        s.connect(addr(base))
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        s.sendall(head.encode() + body)
        raw = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
        s.close()
        return int(raw.split(b" ", 2)[1]), time.monotonic() - start
    except (OSError, IndexError, ValueError):
        return None, time.monotonic() - start

def metrics():
    start = time.monotonic()
    s = socket.create_connection(addr(admin), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = b""
    while chunk := s.recv(65536):
        raw += chunk
    s.close()
    out = {}
    for line in raw.decode(errors="replace").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out

creds = json.dumps({"username": "bystander", "password": "correct horse battery"}).encode()
assert request(http, "POST", "/v1/register", creds)[0] == 201, "register the bystander"

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want + 1024, max(hard, want + 1024)))
except (ValueError, OSError):
    pass
limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
target = min(want, limit - 256)
before = metrics()

stop = threading.Event()
probes = {"healthz": [], "login": [], "metrics": []}
def probe():
    while not stop.is_set():
        t = time.monotonic()
        probes["healthz"].append(request(http, "GET", "/healthz"))
        probes["login"].append(request(http, "POST", "/v1/login", creds))
        probes["metrics"].append(request(admin, "GET", "/metrics"))
        time.sleep(max(0.0, 0.25 - (time.monotonic() - t)))
prober = threading.Thread(target=probe)

sel = selectors.DefaultSelector()
half = b"POST /v1/login HTTP/1.1\r\nHost: x\r\n"
opened = closed_by_server = failed = 0
kept = []
def open_one():
    global opened, failed
    s = socket.socket()
    s.setblocking(False)
    try:
        s.bind((source, 0))
        s.connect_ex(addr(http))
    except OSError:
        s.close()
        failed += 1
        return
    sel.register(s, selectors.EVENT_WRITE, "connecting")
    opened += 1

end = time.monotonic() + seconds
prober.start()
live = 0
while time.monotonic() < end:
    # Up to the target, a few hundred per round (churn: top up again).
    room = target - (len(sel.get_map()) if mode == "churn" else opened)
    for _ in range(min(500, room)):
        open_one()
    for key, events in sel.select(timeout=0.05):
        s = key.fileobj
        if key.data == "connecting":
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                try:
                    s.send(half)
                    sel.modify(s, selectors.EVENT_READ, "held")
                    continue
                except OSError:
                    pass
            sel.unregister(s); s.close(); failed += 1
        else:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s); closed_by_server += 1
                if mode == "churn":
                    s.close()
                else:
                    kept.append(s)  # held on our side, as an attacker would
    live = max(live, len(sel.get_map()) + len(kept))
stop.set()
prober.join()
after = metrics()
for key in list(sel.get_map().values()):
    key.fileobj.close()

def delta(name):
    return after.get(name, 0.0) - before.get(name, 0.0)

def summary(results):
    times = sorted(t for _, t in results)
    answered = [s for s, _ in results if s is not None]
    return {
        "requests": len(results),
        "answered": len(answered),
        "statuses": sorted(set(answered)),
        "max_ms": round(times[-1] * 1000, 1) if times else None,
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1) if times else None,
    }

with open(log) as f:
    logged = f.read()
print(json.dumps({
    "from": source,
    "mode": mode,
    "connections_wanted": want,
    "connections_held_at_once": live,
    "connections_opened": opened,
    "closed_by_server": closed_by_server,
    "connect_failed": failed,
    "seconds": seconds,
    "probes_from": PROBE_FROM,
    "healthz": summary(probes["healthz"]),
    "login": summary(probes["login"]),
    "metrics": summary(probes["metrics"]),
    "ticks": delta("tickforge_ticks_total"),
    "ticks_skipped": delta("tickforge_ticks_skipped_total"),
    "refused_address": delta('tickforge_http_connections_refused_total{listener="auth",reason="address"}'),
    "refused_full": delta('tickforge_http_connections_refused_total{listener="auth",reason="full"}'),
    "closed_header_timeout": delta('tickforge_http_connections_closed_total{listener="auth",reason="header_timeout"}'),
    "refusal_log_lines": logged.count("connections refused since the last report"),
    "open_file_limit_line": next((l for l in logged.splitlines() if "open-file limit" in l), None),
}, indent=2))
EOF
