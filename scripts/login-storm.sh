#!/usr/bin/env bash
# Measures what a burst of parallel logins does to the tick: the
# login-storm scenario of scripts/loadtest.sh (which see).
#
#   scripts/login-storm.sh [LOGINS] [PLAYERS]     (defaults: 100 logins, 4 players)
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/loadtest.sh login-storm --logins "${1:-100}" --players "${2:-4}" --duration 30 --out target/reports/loadtest-login-storm.json
