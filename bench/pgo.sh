#!/usr/bin/env bash
# Builds wirecash-auth with profile-guided optimization (PGO): an instrumented release
# build runs bench/run.sh's refresh and authenticate loads (SQLite, loopback), LLVM
# merges the counts it wrote, and a second release build uses them to lay out and
# inline the Rust code for that path. Same source, same behaviour, 5 to 11 % less
# server CPU per refresh (docs/benchmarks.md, eighth round). C code (aws-lc, SQLite,
# mimalloc) is built as usual. See bench/README.md.
#
#   bench/pgo.sh [OUT_BIN]        # default target/pgo/wirecash-auth
#
# Needs llvm-profdata of the toolchain's own LLVM: `rustup component add llvm-tools`
# (or LLVM_PROFDATA=/path/to/llvm-profdata of the same LLVM version as rustc).
# Knobs: PGO_DIR (target/pgo), PGO_SECONDS (10, measured seconds per training load).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGO_DIR=${PGO_DIR:-$ROOT/target/pgo}
PGO_SECONDS=${PGO_SECONDS:-10}
OUT=${1:-$PGO_DIR/wirecash-auth}
[[ $PGO_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "pgo.sh: PGO_SECONDS must be a whole number of seconds" >&2; exit 2; }

# The profile format belongs to one LLVM version: take the llvm-profdata that came
# with rustc, and refuse another major version before building anything.
if [[ -z ${LLVM_PROFDATA:-} ]]; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    LLVM_PROFDATA="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
fi
if [[ ! -x $LLVM_PROFDATA ]]; then
    echo "pgo.sh: no llvm-profdata at $LLVM_PROFDATA: run 'rustup component add llvm-tools'" >&2
    exit 1
fi
rustc_llvm=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
tool_llvm=$("$LLVM_PROFDATA" --version | sed -n 's/.*LLVM version \([0-9]*\).*/\1/p' | head -n1)
if [[ -z $rustc_llvm || $rustc_llvm != "$tool_llvm" ]]; then
    echo "pgo.sh: rustc uses LLVM ${rustc_llvm:-?}, $LLVM_PROFDATA is LLVM ${tool_llvm:-?}" >&2
    exit 1
fi

RAW=$PGO_DIR/raw
PROFILE=$PGO_DIR/wirecash-auth.profdata
rm -rf "$RAW" "$PROFILE"
mkdir -p "$RAW"

echo "== 1/4 instrumented release build ($PGO_DIR/gen)"
# Build scripts are instrumented too and write their counts while cargo runs them: into
# a directory of their own, never merged. The server's go where LLVM_PROFILE_FILE says.
(cd "$ROOT" && RUSTFLAGS="-Cprofile-generate=$PGO_DIR/build-scripts" \
    CARGO_TARGET_DIR="$PGO_DIR/gen" cargo build --release --locked -p wirecash-auth)

echo "== 2/4 training: bench/run.sh refresh and authenticate, ${PGO_SECONDS}s each"
# The load generator is an ordinary build (bench/run.sh builds it into target/). Lockout
# on, so that logins take the path they take in production.
# The knobs that would put something else in the server's place are set, not inherited.
trained_from=$(date +%s)
LLVM_PROFILE_FILE="$RAW/%m_%p.profraw" SERVER_BIN="$PGO_DIR/gen/release/wirecash-auth" \
    MODES="refresh authenticate" DURATION="$PGO_SECONDS" LOCKOUT=on \
    DATABASE=sqlite NODES=1 ECHO= "$ROOT/bench/run.sh"

# The CLI calls that add the bench users write their profiles before the loads; the
# server writes its own when it exits, after both loads. Without it, no optimized build.
shopt -s nullglob
raw=("$RAW"/*.profraw)
newest=0
for f in "${raw[@]}"; do
    t=$(stat -c %Y "$f")
    ((t > newest)) && newest=$t
done
if ((newest < trained_from + 2 * PGO_SECONDS)); then
    echo "pgo.sh: the server wrote no profile when it stopped (killed, not exited?)" >&2
    exit 1
fi
echo "== 3/4 merging ${#raw[@]} profiles into $PROFILE"
"$LLVM_PROFDATA" merge -o "$PROFILE" "${raw[@]}"

echo "== 4/4 optimized release build ($PGO_DIR/use)"
(cd "$ROOT" && RUSTFLAGS="-Cprofile-use=$PROFILE" \
    CARGO_TARGET_DIR="$PGO_DIR/use" cargo build --release --locked -p wirecash-auth)
mkdir -p "$(dirname "$OUT")"
cp "$PGO_DIR/use/release/wirecash-auth" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "== built $OUT ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), profile-guided)"
