#!/usr/bin/env bash
# One command, the whole system: builds (the browser page too), starts a
# server with embedded defaults (data in ./data), joins it with a client,
# and stops the server when the client exits. Graphical when a display is
# available, else headless for DURATION seconds (default 15). While it
# runs, the same world plays in a browser at http://127.0.0.1:7000/play/.
#
#   scripts/demo.sh                 # window if $DISPLAY is set
#   scripts/demo.sh --headless      # JSON stats on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

mode=graphical
[[ "${1:-}" == "--headless" || -z "${DISPLAY:-}" ]] && mode=headless

cargo build --release -p tickforge-server -p tickforge-client
bash scripts/build-web.sh
rm -f server.out
./target/release/tickforge-server >server.out 2>server.log &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
# The server prints its bound addresses once it is ready.
await_line server.out "http=" "$server" server.log
cat server.out
api=$(sed -n 's/.* api=\([^ ]*\).*/\1/p' server.out)
echo "play in a browser: $api/play/"

user="demo-$RANDOM"
if [[ $mode == graphical ]]; then
    ./target/release/tickforge-client --register --user "$user" --password "demo-password"
else
    ./target/release/tickforge-client --headless --register --user "$user" --password "demo-password" \
        --moves circle --duration "${DURATION:-15}"
fi
