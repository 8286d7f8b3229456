#!/usr/bin/env bash
# Two samlgate nodes sharing one Redis on loopback, measured against the
# memory store the way pair.sh measures (loadtest/README.md, "Paired runs"):
# the two configurations compared run at the same time, pinned to the same
# core, so that the host's noise hits both alike and cancels out of their
# ratio.
#
#   node A   backend = "redis"  (threads = 1)  on SERVER_CPU   measured
#   node M   backend = "memory" (threads = 1)  on SERVER_CPU   measured
#   node B   backend = "redis", admin token    on LOAD_CPU     the other node
#   redis-server, the nginx backend, wrk and k6                on LOAD_CPU
#
#   pass-through: GET with a session cookie, one wrk per node. Before the
#            rounds, REVOKED admin revocations (other users) are made through
#            node B and reach node A's revocation view through the feed;
#            during each round CHURN more per second keep the feed live.
#            Requests per server CPU-second, redis ÷ memory (target >= 0.98),
#            and every Redis command of the round (INFO commandstats).
#   ACS:     unique signed Responses, one k6 acs.js per node; Redis emptied
#            (FLUSHALL) and both nodes restarted per round. Accepted per
#            server CPU-second, redis ÷ memory (target >= 0.9); Redis script
#            calls per accepted ACS from Redis's own INFO commandstats
#            (target exactly 1); SAMPLE of node A's Responses posted to node
#            B afterwards must be refused as replayed (the state is shared).
#
# Bounded: ROUNDS rounds of DURATION seconds each; every process started is
# stopped on exit. Needs redis-server and redis-cli (scripts/deps.sh), k6,
# wrk, nginx, taskset; `cargo build --release` first (or SKIP_BUILD=0).
#
# Environment (defaults in brackets):
#   CARGO_TARGET_DIR [ROOT/target]  OUT [loadtest/out/cluster]
#   ROUNDS [5]  DURATION [5]  CONNS [16] (per wrk)  VUS [8] (per k6)
#   ACS_COUNT [30000]  REVOKED [2000]  CHURN [20]  SAMPLE [5]
#   SERVER_CPU [0]  LOAD_CPU [1]  SKIP_BUILD [1]  SKIP_GEN [0]  TAG [cluster]
#   ONLY [both]: pass or acs runs one of the two series
#   ACS_LOAD [k6]: k6 acs.js (VUS per node), or wrk with acs.lua (CONNS per
#   node), the lighter load under which the nodes, not the generator, are
#   the bottleneck (give ACS_COUNT above what a node accepts in a round)
#   CALIBRATE [0]: 1 gives node A the memory store too (the same
#   configuration on both sides: what the method reads for no difference)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/out/cluster}
# shellcheck source=loadtest/common.sh
. "$HERE/common.sh"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
VUS=${VUS:-8}
ACS_LOAD=${ACS_LOAD:-k6}
ACS_COUNT=${ACS_COUNT:-30000}
REVOKED=${REVOKED:-2000}
CHURN=${CHURN:-20}
SAMPLE=${SAMPLE:-5}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TAG=${TAG:-cluster}
P_A=18180 P_A_ADMIN=18190 P_B=18181 P_B_ADMIN=18191 P_M=18182 P_M_ADMIN=18192
P_BACKEND=18183 P_REDIS=18184
TOKEN=cluster-pair-admin-token-0123456789
export ROUNDS_TSV=$OUT/$TAG-rounds.tsv

trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $P_A $P_A_ADMIN $P_B $P_B_ADMIN $P_M $P_M_ADMIN $P_BACKEND $P_REDIS; do
    if port_busy "$p"; then log "port $p is in use; stop what holds it first"; exit 1; fi
done
for tool in redis-server redis-cli wrk taskset "$K6"; do
    command -v "$tool" >/dev/null || { log "$tool missing (scripts/deps.sh, loadtest/README.md)"; exit 1; }
done
mkdir -p "$OUT/redis" "$OUT/backend"
if [ "${SKIP_BUILD:-1}" != 1 ]; then
    (cd "$ROOT" && cargo build --release --bin samlgate --example gen_responses)
fi
if [ "${SKIP_GEN:-0}" != 1 ] || [ ! -s "$OUT/acs-bodies.txt" ]; then
    log "generating $ACS_COUNT signed Responses"
    "$TD/release/examples/gen_responses" --out "$OUT" --count "$ACS_COUNT" \
        --gateway-port $P_A --admin-port $P_A_ADMIN --backend-port $P_BACKEND --threads 1
fi

# --- configurations: one generated file, three nodes ---------------------------
REDIS_URL="redis://127.0.0.1:$P_REDIS/"
store_redis="[store]
backend = \"redis\"
url = \"$REDIS_URL\"
on_failure = \"reject\""
node_config() { # name port admin store-table [token]
    local f=$OUT/$TAG-$1.toml
    sed -e "s/^threads = .*/threads = 1/" \
        -e "s/^listen = .*/listen = [\"127.0.0.1:$2\"]/" \
        -e "s/^admin_listen = .*/admin_listen = \"127.0.0.1:$3\"/" \
        "$OUT/samlgate.toml" >"$f"
    if [ -n "${5:-}" ]; then
        printf '%s\n' "$5" >"$OUT/$TAG-admin.token"
        sed -i "s|^log_format = .*|&\nadmin_token_file = \"$OUT/$TAG-admin.token\"|" "$f"
    fi
    printf '\n%s\n' "$4" >>"$f"
    echo "$f"
}
if [ "${CALIBRATE:-0}" = 1 ]; then
    export NAME_A="node A, memory store (calibration)"
    CONF_A=$(node_config a $P_A $P_A_ADMIN "[store]
backend = \"memory\"")
else
    CONF_A=$(node_config a $P_A $P_A_ADMIN "$store_redis")
fi
CONF_B=$(node_config b $P_B $P_B_ADMIN "$store_redis" "$TOKEN")
CONF_M=$(node_config m $P_M $P_M_ADMIN "[store]
backend = \"memory\"")

start_node() { # name config cpu
    (cd "$OUT" && exec taskset -c "$3" "$TD/release/samlgate" run --config "$2") \
        >"$OUT/$TAG-$1.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
redis() { redis-cli -h 127.0.0.1 -p $P_REDIS "$@"; }
stats() { redis INFO commandstats >"$1"; }
# ACS logins a node itself counts as accepted (its /metrics).
accepted_logins() {
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^samlgate_acs_total[{]/ && /outcome="accepted"/ {n += $2} END {printf "%d\n", n}'
}
metric() { # admin-port series
    curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s {print $2}'
}

taskset -c "$LOAD_CPU" redis-server --bind 127.0.0.1 --port $P_REDIS --save "" --appendonly no \
    --maxmemory-policy noeviction --dir "$OUT/redis" --logfile "$OUT/redis/redis.log" &
PIDS+=($!)
sed -e "s/@PORT@/$P_BACKEND/" "$HERE/nginx-backend.conf" >"$OUT/backend/nginx.conf"
taskset -c "$LOAD_CPU" "$NGINX" -p "$OUT/backend/" -c "$OUT/backend/nginx.conf" \
    -e "$OUT/backend/error.log" -g "daemon off; pid $OUT/backend/nginx.pid;" &
PIDS+=($!)
for i in $(seq 1 100); do [ "$(redis PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done
wait_http "http://127.0.0.1:$P_BACKEND/"
start_node b "$CONF_B" "$LOAD_CPU"
wait_http "http://127.0.0.1:$P_B_ADMIN/readyz"

COOKIE=$(cat "$OUT/cookie.txt")
: >"$ROUNDS_TSV"
RESULTS=$OUT/$TAG-results.txt
{
    echo "nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') kernel=$(uname -r)"
    echo "$(redis-server --version | cut -d' ' -f1-3) loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rounds=$ROUNDS duration=${DURATION}s acs_load=$ACS_LOAD wrk_conns=$CONNS k6_vus=$VUS revoked=$REVOKED churn=${CHURN}/s server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU"
} | tee "$RESULTS"

# --- pass-through: redis store with live revocations vs memory store -----------
if [ "${ONLY:-both}" != acs ]; then
start_node a "$CONF_A" "$SERVER_CPU"
A=$LAST_PID
start_node m "$CONF_M" "$SERVER_CPU"
M=$LAST_PID
wait_http "http://127.0.0.1:$P_A_ADMIN/readyz"
wait_http "http://127.0.0.1:$P_M_ADMIN/readyz"
log "writing $REVOKED revocations through node B"
stored=$(taskset -c "$LOAD_CPU" python3 "$HERE/cluster_report.py" revoke "http://127.0.0.1:$P_B_ADMIN" "$TOKEN" "$REVOKED" 0)
[ "$stored" = "$REVOKED" ] || { log "node B stored $stored of $REVOKED revocations"; exit 1; }
for i in $(seq 1 100); do
    entries=$(metric $P_A_ADMIN samlgate_revocation_view_entries)
    [ "${entries:-0}" -ge "$REVOKED" ] && break
    sleep 0.1
done
echo "node A's revocation view: $entries entries (from $REVOKED admin revocations made at node B)" | tee -a "$RESULTS"
for port in $P_A $P_M; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$port/")
    [ "$code" = 200 ] || { log "node on $port answers $code to the session cookie"; exit 1; }
done
echo "pass-through (GET with session cookie), requests per server CPU-second:" | tee -a "$RESULTS"
next=$REVOKED
for r in $(seq 1 "$ROUNDS"); do
    stats "$OUT/$TAG-cmd0.txt"
    a0=$(proc_ticks "$A") m0=$(proc_ticks "$M")
    taskset -c "$LOAD_CPU" python3 "$HERE/cluster_report.py" churn "http://127.0.0.1:$P_B_ADMIN" "$TOKEN" \
        "$CHURN" "$DURATION" "$next" >"$OUT/$TAG-churn.txt" &
    c=$!
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Cookie: $COOKIE" \
        -H "Accept: text/html" "http://127.0.0.1:$P_A/" >"$OUT/$TAG-wrk-redis.txt" &
    w1=$!
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Cookie: $COOKIE" \
        -H "Accept: text/html" "http://127.0.0.1:$P_M/" >"$OUT/$TAG-wrk-memory.txt" &
    w2=$!
    wait "$w1" "$w2"
    a1=$(proc_ticks "$A") m1=$(proc_ticks "$M")
    stats "$OUT/$TAG-cmd1.txt"
    wait "$c"
    next=$((next + 100000))
    python3 "$HERE/cluster_report.py" pass "pass round $r" "$OUT/$TAG-wrk-redis.txt" $((a1 - a0)) \
        "$OUT/$TAG-wrk-memory.txt" $((m1 - m0)) "$OUT/$TAG-cmd0.txt" "$OUT/$TAG-cmd1.txt" | tee -a "$RESULTS"
done
echo "node A's revocation view after the rounds: $(metric $P_A_ADMIN samlgate_revocation_view_entries) entries; store errors: $(curl -s "http://127.0.0.1:$P_A_ADMIN/metrics" | awk '/^samlgate_store_errors_total/ {s += $2} END {print s + 0}')" | tee -a "$RESULTS"
stop_pid "$A"
stop_pid "$M"
fi

# --- ACS: redis store vs memory store --------------------------------------------
if [ "${ONLY:-both}" != pass ]; then
echo "ACS (unique signed Responses), accepted per server CPU-second:" | tee -a "$RESULTS"
last=$(wc -l <"$OUT/acs-bodies.txt")
post_body() { # line port -> JSON error code or "accepted"
    sed -n "${1}p" "$OUT/acs-bodies.txt" | tr -d '\n' |
        curl -s -o "$OUT/$TAG-post.json" -w '%{http_code}' -H 'Accept: application/json' \
            -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @- \
            "http://127.0.0.1:$2/saml/acs" >"$OUT/$TAG-post.code"
    if [ "$(cat "$OUT/$TAG-post.code")" = 303 ]; then echo accepted; else
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error"))' "$OUT/$TAG-post.json"
    fi
}
for r in $(seq 1 "$ROUNDS"); do
    redis FLUSHALL >/dev/null
    start_node a "$CONF_A" "$SERVER_CPU"
    A=$LAST_PID
    start_node m "$CONF_M" "$SERVER_CPU"
    M=$LAST_PID
    wait_http "http://127.0.0.1:$P_A_ADMIN/readyz"
    wait_http "http://127.0.0.1:$P_M_ADMIN/readyz"
    # One warm-up login on each (the last Response, which the round does
    # not reach): Redis loads the script here if it must (NOSCRIPT once per
    # server), outside the counted window.
    for port in $P_A $P_M; do
        warm=$(post_body "$last" "$port")
        [ "$warm" = accepted ] || { log "warm-up login on $port: $warm"; exit 1; }
    done
    stats "$OUT/$TAG-cmd0.txt"
    acc0=$(accepted_logins $P_A_ADMIN)
    a0=$(proc_ticks "$A") m0=$(proc_ticks "$M")
    k6s=()
    for n in redis:$P_A memory:$P_M; do
        if [ "$ACS_LOAD" = wrk ]; then
            # The warm-up Response (the last line) stays out of the flood.
            BODIES="$OUT/acs-bodies.txt" ACS_LIMIT=$((last - 1)) taskset -c "$LOAD_CPU" wrk -t1 \
                -c"$CONNS" -d"${DURATION}s" --latency -s "$HERE/acs.lua" \
                "http://127.0.0.1:${n#*:}/saml/acs" >"$OUT/$TAG-wrk-acs-${n%%:*}.txt" 2>&1 &
        else
            taskset -c "$LOAD_CPU" "$K6" run --quiet --no-usage-report -e ACS="http://127.0.0.1:${n#*:}/saml/acs" \
                -e BODIES="$OUT/acs-bodies" -e SUMMARY="$OUT/$TAG-k6-${n%%:*}.json" -e VUS="$VUS" \
                -e DURATION="${DURATION}s" -e MAX_ITERATIONS=$((last - 1)) "$HERE/acs.js" \
                >"$OUT/$TAG-k6-${n%%:*}.log" 2>&1 &
        fi
        k6s+=($!)
    done
    wait "${k6s[@]}" || true
    if [ "$ACS_LOAD" = wrk ]; then
        SUM_R=$OUT/$TAG-wrk-acs-redis.txt SUM_M=$OUT/$TAG-wrk-acs-memory.txt
    else
        SUM_R=$OUT/$TAG-k6-redis.json SUM_M=$OUT/$TAG-k6-memory.json
    fi
    a1=$(proc_ticks "$A") m1=$(proc_ticks "$M")
    # wrk stops at its deadline with requests in flight: the node finishes
    # them (a script call each) but wrk never counts their answers, so the
    # Redis calls are set against what node A itself counted as accepted.
    sleep 0.5
    stats "$OUT/$TAG-cmd1.txt"
    acc1=$(accepted_logins $P_A_ADMIN)
    replayed=0
    # Responses from the 101st on: wrk draws one request while setting up
    # its script, so the very first line may never have been posted.
    for i in $(seq 101 $((100 + SAMPLE))); do
        [ "$(post_body "$i" $P_B)" = replayed ] && replayed=$((replayed + 1))
    done
    stop_pid "$A"
    stop_pid "$M"
    python3 "$HERE/cluster_report.py" acs "acs round $r" "$SUM_R" $((a1 - a0)) \
        "$SUM_M" $((m1 - m0)) "$OUT/$TAG-cmd0.txt" "$OUT/$TAG-cmd1.txt" \
        "$replayed" "$SAMPLE" $((acc1 - acc0)) | tee -a "$RESULTS"
done
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS"
python3 "$HERE/cluster_report.py" summary "$ROUNDS_TSV" | tee -a "$RESULTS"
