# Helpers the scripts share (sourced, not run): waits that end by
# themselves, so a script never hangs on a process that died.

# await_line FILE PATTERN PID LOG [SECONDS]: waits until FILE holds
# PATTERN (a server prints its bound addresses once it is ready). Fails,
# showing the end of LOG, if process PID exits first or SECONDS (default
# 60) pass.
await_line() {
    local file=$1 pattern=$2 pid=$3 log=$4 limit=${5:-60} waited=0
    until grep -q "$pattern" "$file" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$(basename "$0"): process $pid exited before it was ready; the end of $log:" >&2
            tail -n 20 "$log" >&2 2>/dev/null || true
            return 1
        fi
        if [ "$waited" -ge $(( limit * 10 )) ]; then
            echo "$(basename "$0"): process $pid not ready within $limit s; the end of $log:" >&2
            tail -n 20 "$log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# await SECONDS WHAT COMMAND...: runs COMMAND every half second until it
# succeeds; fails after SECONDS, saying WHAT it waited for.
await() {
    local limit=$1 what=$2 waited=0
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$waited" -ge $(( limit * 2 )) ]; then
            echo "$(basename "$0"): gave up after $limit s waiting for $what" >&2
            return 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
}

# view_radius_for ENTITIES AREA: the view radius that holds about 100 of
# ENTITIES spread evenly over AREA square units (at most 1000).
view_radius_for() {
    awk -v n="$1" -v a="$2" 'BEGIN { r = sqrt(100 * a / (3.14159 * (n > 100 ? n : 100))); if (r > 1000) r = 1000; printf "%.0f", r }'
}

# need_package COMMAND PACKAGE: installs Debian's PACKAGE (apt-get, saying
# so) when COMMAND is not on the PATH.
need_package() {
    command -v "$1" >/dev/null && return 0
    echo "$(basename "$0"): installing $2 (apt-get)" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2
}

# release_binaries: the directory of the release server and client:
# TICKFORGE_BIN_DIR when set, else target/release after building them
# (cargo's output on stderr).
release_binaries() {
    if [ -n "${TICKFORGE_BIN_DIR:-}" ]; then
        echo "$TICKFORGE_BIN_DIR"
        return
    fi
    echo "$(basename "$0"): cargo build --release (server, client; cold: about 7 minutes on 2 cores)" >&2
    cargo build --release -p tickforge-server -p tickforge-client >&2
    echo ./target/release
}
