#!/usr/bin/env bash
# Paired measurements (see loadtest/README.md): the two things compared run
# at the same time, pinned to the same core, so that the host's noise (this
# VM's per-CPU-second rates swing by +-30% from one run to the next) hits
# both alike and cancels out of their ratio. The load generators and the
# backend run on the other core.
#
#   pass-through: bare pingora and samlgate (threads = 1 each) on core 0,
#                 two wrk (one per proxy) and the nginx backend on core 1;
#   ACS:          samlgate (threads = 1) and examples/verify_loop (the
#                 engine alone, no HTTP) on core 0, k6 acs.js on core 1.
#
# Each round prints requests per server CPU-second for both and their ratio.
# Run loadtest/run.sh once first (it builds and generates OUT).
#
# Environment (defaults in brackets):
#   CARGO_TARGET_DIR [ROOT/target]  OUT [loadtest/out]
#   ROUNDS [5]  DURATION [5] (seconds per round)  CONNS [16] (per wrk)  VUS [8]
#   SERVER_CPU [0]  LOAD_CPU [1]  SKIP_BUILD [0]  TAG [pair]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=loadtest/common.sh
. "$HERE/common.sh"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
VUS=${VUS:-8}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TAG=${TAG:-pair}
# ACS load generator: wrk with loadtest/acs.lua (default: light enough that
# the gateway, not the generator, is the bottleneck) or k6 with acs.js.
ACS_LOAD=${ACS_LOAD:-wrk}
# 0: every Response in OUT/acs-bodies.txt (run.sh generates 60,000).
ACS_BODIES=${ACS_BODIES:-0}
P_GW=18080 P_ADMIN=18090 P_BACKEND=18081 P_BARE=18082

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime+stime ticks of every thread of a process.
ticks() {
    local total=0 f
    for f in /proc/"$1"/task/*/stat; do
        total=$((total + $(sed 's/^.*) //' "$f" | awk '{print $12+$13}')))
    done
    echo "$total"
}
[ -s "$OUT/samlgate.toml" ] && [ -s "$OUT/acs-bodies.txt" ] || { log "run loadtest/run.sh first (no $OUT)"; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release --bin samlgate --examples)
fi
sed -e "s/^threads = .*/threads = 1/" "$OUT/samlgate.toml" >"$OUT/$TAG-samlgate.toml"
COOKIE=$(cat "$OUT/cookie.txt")
RESULTS=$OUT/$TAG-results.txt
: >"$RESULTS"
{
    echo "nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') kernel=$(uname -r)"
    echo "rounds=$ROUNDS duration=${DURATION}s wrk_conns=$CONNS k6_vus=$VUS server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU"
} | tee -a "$RESULTS"

# --- pass-through: bare pingora vs samlgate ----------------------------------
mkdir -p "$OUT/$TAG-backend"
sed -e "s/@PORT@/$P_BACKEND/" "$HERE/nginx-backend.conf" >"$OUT/$TAG-backend/nginx.conf"
taskset -c "$LOAD_CPU" "$NGINX" -p "$OUT/$TAG-backend/" -c "$OUT/$TAG-backend/nginx.conf" \
    -e "$OUT/$TAG-backend/error.log" -g "daemon off; pid $OUT/$TAG-backend/nginx.pid;" &
PIDS+=($!)
taskset -c "$SERVER_CPU" "$TD/release/examples/bare_proxy" "127.0.0.1:$P_BARE" "127.0.0.1:$P_BACKEND" 1 \
    >"$OUT/$TAG-bare.log" 2>&1 &
BARE=$!
PIDS+=("$BARE")
(cd "$OUT" && exec taskset -c "$SERVER_CPU" "$TD/release/samlgate" run --config "$OUT/$TAG-samlgate.toml") \
    >"$OUT/$TAG-samlgate-pass.log" 2>&1 &
SG=$!
PIDS+=("$SG")
wait_http "http://127.0.0.1:$P_BACKEND/"
wait_http "http://127.0.0.1:$P_BARE/"
wait_http "http://127.0.0.1:$P_ADMIN/readyz"
if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$P_GW/")" != 200 ]; then
    log "samlgate does not accept the generated session cookie"
    exit 1
fi
echo "pass-through (GET with session cookie), requests per server CPU-second:" | tee -a "$RESULTS"
for r in $(seq 1 "$ROUNDS"); do
    b0=$(ticks "$BARE") s0=$(ticks "$SG")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Cookie: $COOKIE" -H "Accept: text/html" \
        "http://127.0.0.1:$P_BARE/" >"$OUT/$TAG-wrk-bare.txt" &
    w1=$!
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Cookie: $COOKIE" -H "Accept: text/html" \
        "http://127.0.0.1:$P_GW/" >"$OUT/$TAG-wrk-samlgate.txt" &
    w2=$!
    wait "$w1" "$w2"
    b1=$(ticks "$BARE") s1=$(ticks "$SG")
    python3 "$HERE/report.py" pair "pass round $r" bare-pingora "$OUT/$TAG-wrk-bare.txt" $((b1 - b0)) \
        samlgate "$OUT/$TAG-wrk-samlgate.txt" $((s1 - s0)) | tee -a "$RESULTS"
done
cleanup
PIDS=()

# --- ACS: samlgate under k6 vs the engine alone --------------------------------
echo "ACS (unique signed Responses) vs the engine alone, per CPU-second:" | tee -a "$RESULTS"
for r in $(seq 1 "$ROUNDS"); do
    (cd "$OUT" && exec taskset -c "$SERVER_CPU" "$TD/release/samlgate" run --config "$OUT/$TAG-samlgate.toml") \
        >"$OUT/$TAG-samlgate-acs.log" 2>&1 &
    SG=$!
    PIDS=("$SG")
    wait_http "http://127.0.0.1:$P_ADMIN/readyz"
    s0=$(ticks "$SG")
    (cd "$OUT" && exec taskset -c "$SERVER_CPU" "$TD/release/examples/verify_loop" \
        "$OUT/$TAG-samlgate.toml" "$OUT/responses.txt" "$DURATION") >"$OUT/$TAG-verify.txt" &
    v=$!
    if [ "$ACS_LOAD" = k6 ]; then
        taskset -c "$LOAD_CPU" k6 run --quiet --no-usage-report -e ACS="http://127.0.0.1:$P_GW/saml/acs" \
            -e BODIES="$OUT/acs-bodies" -e SUMMARY="$OUT/$TAG-k6-acs.json" -e VUS="$VUS" \
            -e DURATION="${DURATION}s" "$HERE/acs.js" >"$OUT/$TAG-k6-acs.log" 2>&1 || true
        ACS_SUMMARY=$OUT/$TAG-k6-acs.json
    else
        BODIES="$OUT/acs-bodies.txt" ACS_LIMIT=$ACS_BODIES taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" \
            -d"${DURATION}s" --latency -s "$HERE/acs.lua" "http://127.0.0.1:$P_GW/saml/acs" \
            >"$OUT/$TAG-wrk-acs.txt" 2>&1 || true
        ACS_SUMMARY=$OUT/$TAG-wrk-acs.txt
    fi
    s1=$(ticks "$SG")
    wait "$v"
    curl -s "http://127.0.0.1:$P_ADMIN/metrics" >"$OUT/$TAG-metrics-acs.txt" || true
    cleanup
    PIDS=()
    python3 "$HERE/report.py" pairacs "acs round $r" "$ACS_SUMMARY" $((s1 - s0)) \
        "$OUT/$TAG-verify.txt" "$OUT/$TAG-metrics-acs.txt" | tee -a "$RESULTS"
done
