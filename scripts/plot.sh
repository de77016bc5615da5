#!/usr/bin/env bash
# Charts of the benchmark reports, as SVG (tickforge-plot, plot/):
#
#   scripts/plot.sh [--out DIR] [REPORT.json...]
#
# Reports: scripts/loadtest.sh's (tick time and CPU against players, bandwidth
# against entities in view), scripts/soak.sh's (server memory over the soak),
# scripts/cluster-bench.sh rollout's (each moved player's pause) and
# scripts/web-bench.sh's (the page's frame time); they land in
# target/reports. With no reports: the ones BENCHMARKS.md charts
# (docs/reports/*.json), redrawn into docs/plots. Prints each file written.
set -euo pipefail
cd "$(dirname "$0")/.."

out="" reports=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) reports+=("$1"); shift ;;
    esac
done
if [ ${#reports[@]} -eq 0 ]; then
    reports=(docs/reports/*.json)
    out=${out:-docs/plots}
fi
out=${out:-target/plots}
echo "plot: cargo run -p tickforge-plot (cold: about a minute)" >&2
cargo run -q --locked -p tickforge-plot -- --out "$out" "${reports[@]}"
