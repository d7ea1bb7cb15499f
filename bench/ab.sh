#!/usr/bin/env bash
# A/B comparison of two wirecash-auth builds on the same box: runs the same load against
# each, alternating (A B, then B A, …) so that a box that gets slower or faster during the
# run weighs on both alike, and prints every run and the median of the per-round ratios
# B/A of throughput, server CPU per request and p99. The only comparison that holds on a
# noisy machine. See bench/README.md.
#
#   bench/ab.sh OLD_BIN NEW_BIN
#
# Knobs: ROUNDS (5), MODE (refresh; or authenticate), DURATION (10), WARMUP (2),
# DATABASE (sqlite; or postgres), and every knob of bench/run.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# == 2 ]] || { echo "usage: bench/ab.sh OLD_BIN NEW_BIN" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
for bin in "$A" "$B"; do
    [[ -x $bin ]] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }
done
ROUNDS=${ROUNDS:-5}
MODE=${MODE:-refresh}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: ROUNDS must be a positive whole number" >&2; exit 2; }

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p wirecash-bench)
fi
[[ -x $TARGET_DIR/release/wirecash-bench ]] || { echo "ab.sh: build wirecash-bench first" >&2; exit 2; }

OUT=$(mktemp -d "${TMPDIR:-/tmp}/wirecash-ab.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

run() { # side round
    local side=$1 round=$2 bin
    bin=$([[ $side == A ]] && echo "$A" || echo "$B")
    mkdir -p "$OUT/$side-$round"
    if ! SERVER_BIN=$bin SKIP_BUILD=1 MODES=$MODE DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} \
        RESULTS_DIR="$OUT/$side-$round" "$ROOT/bench/run.sh" >"$OUT/$side-$round/run.log" 2>&1; then
        tail -n 30 "$OUT/$side-$round/run.log" >&2
        echo "ab.sh: run $side $round failed" >&2
        exit 1
    fi
    python3 - "$OUT/$side-$round/$MODE.json" "$side" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = (r.get("server_cpu") or {}).get("cores", 0.0)
per_s = r["ok_per_s"]
us = cpu * 1e6 / per_s if per_s else float("nan")
print(f"  {sys.argv[2]} round {sys.argv[3]}: {per_s:9.1f}/s  server {cpu:.2f} cores = "
      f"{us:6.1f} us per request  p99 {r['latency']['p99_ms']:.2f} ms  "
      f"errors {sum(r['errors'].values())}  peak RSS {(r.get('server_peak_rss_kib') or 0) / 1024:.1f} MiB")
PY
}

echo "== A: $A"
echo "== B: $B"
echo "== $ROUNDS rounds of $MODE, ${DURATION:-10} s each, alternating"
for ((i = 1; i <= ROUNDS; i++)); do
    if ((i % 2)); then run A "$i"; run B "$i"; else run B "$i"; run A "$i"; fi
done

python3 - "$OUT" "$ROUNDS" "$MODE" <<'PY'
import json, statistics, sys
out, rounds, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def fig(side, i):
    r = json.load(open(f"{out}/{side}-{i}/{mode}.json"))
    cpu = (r.get("server_cpu") or {}).get("cores", 0.0)
    return r["ok_per_s"], cpu * 1e6 / r["ok_per_s"], r["latency"]["p99_ms"], (r.get("server_peak_rss_kib") or 0) / 1024
rows = [(fig("A", i), fig("B", i)) for i in range(1, rounds + 1)]
def med(k):
    return statistics.median(b[k] / a[k] for a, b in rows)
def med_side(side, k):
    return statistics.median(r[side][k] for r in rows)
print()
print(f"== medians over {rounds} rounds (B/A of each round, then the median)")
print(f"  throughput      A {med_side(0, 0):9.1f}/s   B {med_side(1, 0):9.1f}/s   B/A {med(0):.3f}")
print(f"  CPU per request A {med_side(0, 1):9.1f} us  B {med_side(1, 1):9.1f} us  B/A {med(1):.3f}")
print(f"  p99             A {med_side(0, 2):9.2f} ms  B {med_side(1, 2):9.2f} ms  B/A {med(2):.3f}")
print(f"  peak RSS        A {max(r[0][3] for r in rows):9.1f} MiB B {max(r[1][3] for r in rows):9.1f} MiB (highest)")
PY
