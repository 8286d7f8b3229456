#!/usr/bin/env bash
# The HTTP engine comparison of issue 9, paired as pair.sh pairs (both
# servers of a pair at the same time on the same core, their two wrk and the
# nginx backend on the other core, so the host's noise cancels out of the
# ratio). Servers, each with one worker:
#   nginx          proxy_pass over a keepalive upstream pool (the reference)
#   pingora        (a) examples/bare_proxy.rs: pingora ProxyHttp
#   pingora+hyper  (b) examples/pingora_hyper_proxy.rs: pingora Server and
#                  listeners, hyper serving each connection (ServerApp)
#   hyper          (c) examples/hyper_proxy.rs: hyper + tokio alone
#   samlgate       the gateway itself (authenticated GET: session check,
#                  identity headers, X-Forwarded-*), when SAMLGATE=1
# Each proxy does the same work: one upstream, one header replaced.
#
# Environment: ROUNDS [3] DURATION [5] CONNS [16] SERVER_CPU [0] LOAD_CPU [1]
#   SKIP_BUILD [0] PAIRS ["nginx:pingora nginx:pingora+hyper nginx:hyper
#   pingora+hyper:hyper"] SAMLGATE [0] (needs loadtest/run.sh's OUT first)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=loadtest/common.sh
. "$HERE/common.sh"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PAIRS=${PAIRS:-"nginx:pingora nginx:pingora+hyper nginx:hyper pingora+hyper:hyper"}
TAG=engines
P_BACKEND=18181
declare -A PORT=([nginx]=18182 [pingora]=18183 [pingora+hyper]=18184 [hyper]=18185 [samlgate]=18080)

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime+stime ticks of every thread of a process and of its children
# (nginx's workers).
ticks() {
    local total=0 p f
    for p in "$1" $(pgrep -P "$1" || true); do
        for f in /proc/"$p"/task/*/stat; do
            [ -e "$f" ] || continue
            total=$((total + $(sed 's/^.*) //' "$f" | awk '{print $12+$13}')))
        done
    done
    echo "$total"
}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release --bin samlgate --example bare_proxy \
        --example pingora_hyper_proxy --example hyper_proxy)
fi
mkdir -p "$OUT/$TAG-backend" "$OUT/$TAG-nginx"
RESULTS=$OUT/$TAG-results.txt
: >"$RESULTS"
{
    echo "nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') kernel=$(uname -r)"
    echo "rounds=$ROUNDS duration=${DURATION}s wrk_conns=$CONNS server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$RESULTS"

sed -e "s/@PORT@/$P_BACKEND/" "$HERE/nginx-backend.conf" >"$OUT/$TAG-backend/nginx.conf"
taskset -c "$LOAD_CPU" "$NGINX" -p "$OUT/$TAG-backend/" -c "$OUT/$TAG-backend/nginx.conf" \
    -e "$OUT/$TAG-backend/error.log" -g "daemon off; pid $OUT/$TAG-backend/nginx.pid;" &
PIDS+=($!)
sed -e "s/@PORT@/${PORT[nginx]}/" -e "s/@BACKEND@/127.0.0.1:$P_BACKEND/" -e "s/@WORKERS@/1/" \
    "$HERE/nginx-proxy.conf" >"$OUT/$TAG-nginx/nginx.conf"
declare -A PID
taskset -c "$SERVER_CPU" "$NGINX" -p "$OUT/$TAG-nginx/" -c "$OUT/$TAG-nginx/nginx.conf" \
    -e "$OUT/$TAG-nginx/error.log" -g "daemon off; pid $OUT/$TAG-nginx/nginx.pid;" &
PID[nginx]=$!
for v in pingora:bare_proxy pingora+hyper:pingora_hyper_proxy hyper:hyper_proxy; do
    name=${v%%:*} bin=${v#*:}
    taskset -c "$SERVER_CPU" "$TD/release/examples/$bin" "127.0.0.1:${PORT[$name]}" \
        "127.0.0.1:$P_BACKEND" 1 >"$OUT/$TAG-$bin.log" 2>&1 &
    PID[$name]=$!
done
HEADERS=(-H "Accept: text/html")
if [ "${SAMLGATE:-0}" = 1 ]; then
    [ -s "$OUT/samlgate.toml" ] || { log "SAMLGATE=1 needs loadtest/run.sh's $OUT first"; exit 1; }
    sed -e "s/^threads = .*/threads = 1/" -e "s/127.0.0.1:18081/127.0.0.1:$P_BACKEND/" \
        "$OUT/samlgate.toml" >"$OUT/$TAG-samlgate.toml"
    (cd "$OUT" && exec taskset -c "$SERVER_CPU" "$TD/release/samlgate" run --config "$OUT/$TAG-samlgate.toml") \
        >"$OUT/$TAG-samlgate.log" 2>&1 &
    PID[samlgate]=$!
    HEADERS+=(-H "Cookie: $(cat "$OUT/cookie.txt")")
fi
PIDS+=("${PID[@]}")
wait_http "http://127.0.0.1:$P_BACKEND/"
for name in "${!PID[@]}"; do
    [ "$name" = samlgate ] && continue
    wait_http "http://127.0.0.1:${PORT[$name]}/" 200 || { log "$name does not answer 200"; exit 1; }
done
if [ -n "${PID[samlgate]:-}" ]; then
    wait_http "http://127.0.0.1:18090/readyz"
    code=$(curl -s -o /dev/null -w '%{http_code}' "${HEADERS[@]}" "http://127.0.0.1:${PORT[samlgate]}/")
    [ "$code" = 200 ] || { log "samlgate does not accept the generated session cookie ($code)"; exit 1; }
fi

for r in $(seq 1 "$ROUNDS"); do
    for pair in $PAIRS; do
        a=${pair%%:*} b=${pair#*:}
        a0=$(ticks "${PID[$a]}") b0=$(ticks "${PID[$b]}")
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${HEADERS[@]}" \
            "http://127.0.0.1:${PORT[$a]}/" >"$OUT/$TAG-wrk-a.txt" &
        w1=$!
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${HEADERS[@]}" \
            "http://127.0.0.1:${PORT[$b]}/" >"$OUT/$TAG-wrk-b.txt" &
        w2=$!
        wait "$w1" "$w2"
        a1=$(ticks "${PID[$a]}") b1=$(ticks "${PID[$b]}")
        python3 "$HERE/report.py" pair "round $r" "$a" "$OUT/$TAG-wrk-a.txt" $((a1 - a0)) \
            "$b" "$OUT/$TAG-wrk-b.txt" $((b1 - b0)) | tee -a "$RESULTS"
    done
done
