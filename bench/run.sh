#!/usr/bin/env bash
# One-command load benchmark of wirecash-auth: builds release, starts a fresh server on
# a temporary SQLite database — or NODES servers on a scratch PostgreSQL database —
# (default Argon2 parameters, loopback only), runs the refresh and authenticate loads
# against it, prints the results and the servers' peak RSS, then stops the servers and
# removes everything it created. See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

# Knobs (environment variables).
USERS=${USERS:-64}                       # bench users bench-0 … bench-(USERS-1)
REFRESH_CHAINS=${REFRESH_CHAINS:-64}     # concurrent refresh chains
AUTH_CONCURRENCY=${AUTH_CONCURRENCY:-8}  # concurrent authenticate loops
DURATION=${DURATION:-20}                 # measured seconds per mode
WARMUP=${WARMUP:-2}                      # unmeasured seconds before that
CLIENT=${CLIENT:-hyper}                  # hyper | reqwest
CLIENT_THREADS=${CLIENT_THREADS:-1}      # load generator runtime threads
SERVER_CPUS=${SERVER_CPUS:-}             # taskset CPU list for the server, empty = unpinned
CLIENT_CPUS=${CLIENT_CPUS:-}             # taskset CPU list for the load generator
MODES=${MODES:-"refresh authenticate"}   # which loads to run, in order (also: replay, flood, floods, hooks, hooks-slow; or only floor-core, floor-router)
HOOK_RATE=${HOOK_RATE:-20}               # hooks modes: security events per second, delivered to webhooks beside the refresh load
FLOOD=${FLOOD:-200}                      # flood mode: wrong-password login loops beside the refresh chains
FLOOD_THREADS=${FLOOD_THREADS:-1}        # flood/floods modes: threads of the flood's own runtime (0 = share the measuring one)
FLOODS=${FLOODS:-64}                     # floods mode: login loops, a fresh connection per login
PHASE=${PHASE:-2}                        # floods mode: seconds of each control / hashing phase
FLOOD_SOURCES=${FLOOD_SOURCES:-64}       # floods mode: loopback source addresses (127.0.0.2 …)
LOCKOUT=${LOCKOUT:-off}                  # on = failed-login limits at their defaults
RESULTS_DIR=${RESULTS_DIR:-}             # if set, JSON reports and server log are kept here
SKIP_BUILD=${SKIP_BUILD:-0}              # 1 = use the binaries already in target/release
DATABASE=${DATABASE:-sqlite}             # sqlite | postgres
NODES=${NODES:-1}                        # service nodes (more than 1 needs postgres)
PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}  # where the scratch database goes
PERF_DATA=${PERF_DATA:-}                 # if set, `perf record` the (first) server into this file
PERF_SECONDS=${PERF_SECONDS:-8}          # … for this many seconds after the warm-up of the first mode
PERF_STAT=${PERF_STAT:-}                 # if set (perf event list), `perf stat` these events into PERF_DATA instead
ECHO=${ECHO:-}                           # raw | hyper: a server that does no token work in the server's place
BENCH_ENV=sandbox

for v in HOOK_RATE USERS REFRESH_CHAINS AUTH_CONCURRENCY DURATION WARMUP CLIENT_THREADS NODES FLOOD FLOOD_THREADS FLOODS PHASE FLOOD_SOURCES; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "run.sh: $v must be a whole number (got '${!v}')" >&2; exit 2; }
done

case $ECHO in
    '' | raw | hyper) ;;
    *) echo "run.sh: ECHO must be raw or hyper (got '$ECHO')" >&2; exit 2 ;;
esac

case $DATABASE in
    sqlite) [[ $NODES == 1 ]] || { echo "run.sh: NODES > 1 needs DATABASE=postgres" >&2; exit 2; } ;;
    postgres) ;;
    *) echo "run.sh: DATABASE must be sqlite or postgres (got '$DATABASE')" >&2; exit 2 ;;
esac

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER_BIN=${SERVER_BIN:-$TARGET_DIR/release/wirecash-auth}  # another build to compare
BENCH_BIN=$TARGET_DIR/release/wirecash-bench
HOOKS_BIN=$TARGET_DIR/release/wirecash-bench-webhooks
FLOOR_BIN=$TARGET_DIR/release/wirecash-bench-floor
HOOKS=0
[[ " $MODES " == *" hooks"* ]] && HOOKS=1
# The floor modes run the refresh chains inside wirecash-bench-floor, on the code it was
# built from (not SERVER_BIN), with no server: they cannot share a run with the others.
FLOOR=0
if [[ " $MODES " == *" floor-"* ]]; then
    for mode in $MODES; do
        [[ $mode == floor-core || $mode == floor-router ]] ||
            { echo "run.sh: the floor modes cannot be mixed with '$mode'" >&2; exit 2; }
    done
    [[ $NODES == 1 && -z $PERF_DATA && -z $ECHO ]] ||
        { echo "run.sh: the floor modes run in one process, without PERF_DATA or ECHO" >&2; exit 2; }
    FLOOR=1
fi

if [[ $SKIP_BUILD != 1 ]]; then
    echo "== building release binaries"
    (cd "$ROOT" && cargo build --release -p wirecash-auth -p wirecash-bench)
fi

# taskset execs the program, so "$!" below is the server's own PID either way.
server_pin=()
client_pin=()
[[ -n $SERVER_CPUS ]] && server_pin=(taskset -c "$SERVER_CPUS")
[[ -n $CLIENT_CPUS ]] && client_pin=(taskset -c "$CLIENT_CPUS")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/wirecash-bench.XXXXXX")
SERVER_PIDS=()
PG_DB=
cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $RESULTS_DIR ]]; then cp "$WORK"/server*.log "$RESULTS_DIR/" 2>/dev/null || true; fi
    if [[ -n $PG_DB ]]; then
        psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[[ -n $RESULTS_DIR ]] && mkdir -p "$RESULTS_DIR"

if [[ $DATABASE == postgres ]]; then
    PG_DB="wirecash_bench_$$"
    psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
    DB="$PG_SERVER/$PG_DB"
else
    DB="sqlite://$WORK/bench.db"
fi
# Statements (transactions) committed in the bench database so far, and rotations done
# (the sum of every session's generation) — PostgreSQL only. Backends report their
# statistics when idle, at the latest 10 s later: wait that long before reading them.
pg_xacts() {
    psql -Atq "$PG_SERVER/postgres" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$PG_DB'"
}
pg_rotations() {
    psql -Atq "$PG_SERVER/$PG_DB" -c "SELECT coalesce(sum(generation), 0) FROM sessions"
}
CONFIG=$WORK/wirecash-auth.toml
# Only what a benchmark must change: one environment, and no per-address rate limits
# (every request comes from 127.0.0.1, so the defaults of 20 authenticate/s and 1000
# refresh/s per address would measure the limiter). Argon2 and token settings stay at
# their defaults (OWASP: 19456 KiB, 2 iterations, 1 lane).
# The hooks modes need the admin listener (on a free port) and webhooks to loopback.
admin_listen=
[[ $HOOKS == 1 ]] && admin_listen='admin_listen = "127.0.0.1:0"'
cat >"$CONFIG" <<EOF
environments = ["$BENCH_ENV"]
$admin_listen

[rate_limit]
authenticate_rps = 0
token_rps = 0

# The flood mode measures the worst case of a login flood: every wrong password costs a
# full Argon2 verification (an attacker spread over many addresses and usernames, where
# the lockout does not cut the guesses short).
EOF
# LOCKOUT=on keeps the failed-login limits at their defaults: every login then also
# reserves and settles its counters in the database (their cost under a flood).
if [[ $LOCKOUT != on ]]; then
    printf '[security]\nlogin_max_failures = 0\naddress_max_failures = 0\n' >>"$CONFIG"
fi
if [[ $HOOKS == 1 ]]; then
    printf '[webhook]\nallowed_networks = ["127.0.0.0/8"]\n' >>"$CONFIG"
fi
# A throw-away master key, so nothing is written next to the database.
WIRECASH_AUTH_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export WIRECASH_AUTH_MASTER_KEY
# The password every bench user shares; handed to the load generator by environment so
# it does not show in `ps`.
WIRECASH_BENCH_PASSWORD="bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
export WIRECASH_BENCH_PASSWORD

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "== commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
echo "== adding $USERS users to $DB"
# The installation first (binaries from before `init` make it on the first `user add`).
if "$SERVER_BIN" init --help >/dev/null 2>&1; then
    "$SERVER_BIN" --database "$DB" --config "$CONFIG" init >/dev/null
fi
for ((i = 0; i < USERS; i++)); do
    printf '%s\n' "$WIRECASH_BENCH_PASSWORD" |
        "$SERVER_BIN" --database "$DB" --config "$CONFIG" user add "bench-$i" --env "$BENCH_ENV" --password-stdin >/dev/null
done

if [[ $HOOKS == 1 ]]; then
    "$SERVER_BIN" --database "$DB" --config "$CONFIG" admin-key create bench --role owner >"$WORK/admin.key"
    chmod 600 "$WORK/admin.key"
fi

if [[ $FLOOR == 1 ]]; then
    for mode in $MODES; do
        echo
        echo "== $mode: $REFRESH_CHAINS refresh chains inside one process, no HTTP (${mode#floor-} layer)"
        if ! timeout $((WARMUP + DURATION + 120)) "$FLOOR_BIN" --config "$CONFIG" --database "$DB" \
            --env "$BENCH_ENV" --users "$USERS" --concurrency "$REFRESH_CHAINS" --layer "${mode#floor-}" \
            --duration "${DURATION}s" --warmup "${WARMUP}s" 2>"$WORK/$mode.log" |
            tee ${RESULTS_DIR:+"$RESULTS_DIR/$mode.txt"}; then
            tail -n 20 "$WORK/$mode.log" >&2
            exit 1
        fi
    done
    exit 0
fi

ADDRS=()
ADMIN_ADDR=
for ((n = 1; n <= NODES; n++)); do
    echo "== starting server $n of $NODES${SERVER_CPUS:+ on CPUs $SERVER_CPUS}"
    server_cmd=("$SERVER_BIN" --database "$DB" --config "$CONFIG" serve --listen 127.0.0.1:0)
    [[ -n $ECHO ]] && server_cmd=("$FLOOR_BIN" --layer "echo-$ECHO" --listen 127.0.0.1:0)
    "${server_pin[@]}" "${server_cmd[@]}" >"$WORK/server$n.out" 2>"$WORK/server$n.log" &
    pid=$!
    SERVER_PIDS+=("$pid")
    ADDR=
    for _ in $(seq 1 300); do
        ADDR=$(sed -n 's/^wirecash-auth listening on \(.*\)$/\1/p' "$WORK/server$n.out" | head -n1)
        [[ -n $ADDR ]] && break
        kill -0 "$pid" 2>/dev/null || { echo "the server exited:" >&2; cat "$WORK/server$n.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n $ADDR ]] || { echo "the server did not become ready in 30 s" >&2; cat "$WORK/server$n.log" >&2; exit 1; }
    [[ $n == 1 ]] && ADMIN_ADDR=$(sed -n 's/^wirecash-auth admin API listening on \(.*\)$/\1/p' "$WORK/server$n.out" | head -n1)
    echo "   pid $pid on $ADDR, RSS after start: $(awk '/^VmRSS/ {print $2, $3}' "/proc/$pid/status")"
    ADDRS+=("http://$ADDR")
done
URLS=$(IFS=,; echo "${ADDRS[*]}")
# With one node the report shows that server's CPU and memory; with several, the
# machine's CPU (and each node's peak RSS at the end).
pid_arg=()
[[ $NODES == 1 ]] && pid_arg=(--server-pid "${SERVER_PIDS[0]}")

for mode in $MODES; do
    case $mode in
        refresh) concurrency=$REFRESH_CHAINS; gen_mode=refresh; extra=() ;;
        replay) concurrency=$REFRESH_CHAINS; gen_mode=refresh; extra=(--replay) ;;
        authenticate) concurrency=$AUTH_CONCURRENCY; gen_mode=authenticate; extra=() ;;
        flood) concurrency=$REFRESH_CHAINS; gen_mode=refresh; extra=(--flood "$FLOOD" --flood-threads "$FLOOD_THREADS") ;;
        floods) concurrency=$REFRESH_CHAINS; gen_mode=refresh
            extra=(--flood "$FLOODS" --flood-threads "$FLOOD_THREADS" --flood-shape interleaved
                   --phase "${PHASE}s" --flood-sources "$FLOOD_SOURCES") ;;
        hooks | hooks-slow) concurrency=$REFRESH_CHAINS; gen_mode=refresh; extra=() ;;
        *) echo "run.sh: unknown mode '$mode'" >&2; exit 2 ;;
    esac
    if [[ $DATABASE == postgres && $mode == refresh ]]; then
        sleep 11
        x0=$(pg_xacts); r0=$(pg_rotations)
    fi
    json_file=$WORK/$mode.json
    [[ -n $RESULTS_DIR ]] && json_file=$RESULTS_DIR/$mode.json
    echo
    case $mode in
        hooks) echo "== hooks: the refresh load below, while $HOOK_RATE security events/s go to a fast webhook endpoint" ;;
        hooks-slow) echo "== hooks-slow: the same, with a second endpoint that never answers within the 10 s delivery timeout" ;;
    esac
    # The generator stops by itself after WARMUP + DURATION (+ at most one request
    # timeout); `timeout` is only a backstop.
    timeout $((WARMUP + DURATION + 60)) "${client_pin[@]}" \
        "$BENCH_BIN" "$gen_mode" "${extra[@]}" --url "$URLS" --env "$BENCH_ENV" --users "$USERS" \
        --concurrency "$concurrency" --duration "${DURATION}s" --warmup "${WARMUP}s" \
        --client "$CLIENT" --threads "$CLIENT_THREADS" "${pid_arg[@]}" --json-out "$json_file" &
    gen=$!
    hooks=
    if [[ $mode == hooks* ]]; then
        # Events for the whole warm-up and measurement, to a fast endpoint (and in
        # hooks-slow also to one that never answers within the 10 s delivery timeout).
        [[ -n $ADMIN_ADDR ]] || { echo "run.sh: the server printed no admin address" >&2; exit 1; }
        slow=()
        [[ $mode == hooks-slow ]] && slow=(--slow)
        "${client_pin[@]}" "$HOOKS_BIN" --admin-url "http://$ADMIN_ADDR" --admin-key-file "$WORK/admin.key" \
            --env "$BENCH_ENV" --rate "$HOOK_RATE" --duration "$((WARMUP + DURATION))s" "${slow[@]}" \
            ${RESULTS_DIR:+--json-out "$RESULTS_DIR/$mode-webhooks.json"} &
        hooks=$!
    fi
    if [[ -n $PERF_DATA ]]; then
        sleep "$WARMUP"
        if [[ -n $PERF_STAT ]]; then
            # Counts, not samples: e.g. system calls and context switches per refresh.
            perf stat -e "$PERF_STAT" -p "${SERVER_PIDS[0]}" -o "$PERF_DATA" \
                -- sleep "$PERF_SECONDS" >/dev/null 2>&1 || echo "run.sh: perf stat failed" >&2
        else
            # Call graphs from DWARF unwinding (.eh_frame): the release build keeps no
            # frame pointers. 499 Hz keeps the data small enough to post-process.
            perf record -q -F 499 --call-graph dwarf,16384 -p "${SERVER_PIDS[0]}" -o "$PERF_DATA" \
                -- sleep "$PERF_SECONDS" >/dev/null 2>&1 || echo "run.sh: perf record failed" >&2
        fi
        PERF_DATA=
    fi
    wait "$gen"
    [[ -n $hooks ]] && wait "$hooks"
    if [[ $DATABASE == postgres && $mode == refresh ]]; then
        sleep 11
        r1=$(pg_rotations); x1=$(pg_xacts)
        echo "   database: $((x1 - x0 - 2)) statements for $((r1 - r0)) rotations (warm-up and chain logins included):" \
            "$(python3 -c "print(f'{($x1 - $x0 - 2) / max($r1 - $r0, 1):.3f}')") per refresh"
    fi
done

echo
for pid in "${SERVER_PIDS[@]}"; do
    read -r utime stime < <(awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$pid/stat")
    echo "== server $pid totals since start: CPU $(((utime + stime) / $(getconf CLK_TCK))) s," \
        "$(grep -E '^(VmHWM|VmRSS)' "/proc/$pid/status" | tr -s ' \t' ' ' | paste -sd, -)"
    echo "   peak RSS (VmHWM): $(awk '/^VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status")"
done
if [[ $DATABASE == postgres ]]; then
    echo "   database size: $(psql -Atq "$PG_SERVER/postgres" -c "SELECT pg_size_pretty(pg_database_size('$PG_DB'))")"
else
    echo "   database on disk: $(du -ch "$WORK"/bench.db* | tail -n1 | cut -f1)"
fi
