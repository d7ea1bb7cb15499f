#!/usr/bin/env bash
# Profiles the server under a bench load: `perf record` (DWARF call graphs) of the
# server during one mode of bench/run.sh, then a flame graph (SVG) and a table of where
# its CPU goes, by category (bench/profile.py). See bench/README.md.
#
#   bench/profile.sh OUT_DIR        # MODE=refresh DATABASE=sqlite PERF_SECONDS=8
#
# Needs `perf` (Debian's linux-perf) and inferno (`cargo install inferno`). Every knob
# of bench/run.sh passes through (SERVER_BIN to profile another build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# == 1 ]] || { echo "usage: bench/profile.sh OUT_DIR" >&2; exit 2; }
OUT=$1
MODE=${MODE:-refresh}
for tool in perf inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || {
        echo "profile.sh: $tool is missing (apt-get install linux-perf; cargo install inferno)" >&2
        exit 2
    }
done
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

MODES=$MODE PERF_DATA="$OUT/perf.data" PERF_STAT= DURATION=${DURATION:-12} RESULTS_DIR="$OUT" \
    "$ROOT/bench/run.sh" | tee "$OUT/run.log"
[[ -s $OUT/perf.data ]] || { echo "profile.sh: no perf data was recorded" >&2; exit 1; }

perf script -i "$OUT/perf.data" 2>/dev/null | inferno-collapse-perf --all >"$OUT/folded.txt"
inferno-flamegraph --title "wirecash-auth, $MODE load, $(git -C "$ROOT" rev-parse --short HEAD)" \
    <"$OUT/folded.txt" >"$OUT/flamegraph.svg"
rm -f "$OUT/perf.data"
python3 "$ROOT/bench/profile.py" "$OUT/folded.txt" "$OUT/$MODE.json" | tee "$OUT/table.md"
echo "flame graph: $OUT/flamegraph.svg"
