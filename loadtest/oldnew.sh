#!/usr/bin/env bash
# Two builds of samlgate paired (see pair.sh for the method): both gateways
# at the same time on one core, their two wrk and the nginx backend on the
# other, so the host's noise cancels out of "new ÷ old". Answers "what did
# this round give" without comparing numbers from different runs.
#
#   pass-through: the same authenticated GET (session cookie) to each;
#   ACS:          each gateway, started fresh per round, gets the same
#                 unique signed Responses (each has its own replay store),
#                 wrk with acs.lua; a 303 is an accepted login.
#
# The old build: a worktree of the old commit built with its own target dir,
#   git worktree add /tmp/old-sg <commit>
#   (cd /tmp/old-sg && CARGO_TARGET_DIR=/tmp/old-target cargo build --release --bin samlgate)
#   OLD_BIN=/tmp/old-target/release/samlgate loadtest/oldnew.sh
# Both read loadtest/run.sh's OUT (config, cookie, bodies): the old build
# must accept that configuration and session cookie (the script checks).
#
# Environment (defaults in brackets): OLD_BIN (required)
#   NEW_BIN [target/release/samlgate]  ROUNDS [5]  DURATION [5]  CONNS [16]
#   SERVER_CPU [0]  LOAD_CPU [1]  ACS_BODIES [0: all]  MODES ["pass acs"]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=loadtest/common.sh
. "$HERE/common.sh"
: "${OLD_BIN:?set OLD_BIN to the old samlgate binary}"
NEW_BIN=${NEW_BIN:-$TD/release/samlgate}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ACS_BODIES=${ACS_BODIES:-0}
MODES=${MODES:-"pass acs"}
TAG=oldnew
P_BACKEND=18081
declare -A GW=([new]=18080 [old]=18280) ADMIN=([new]=18090 [old]=18290) BIN=([new]=$NEW_BIN [old]=$OLD_BIN)
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -s "$OUT/samlgate.toml" ] || [ ! -s "$OUT/acs-bodies.txt" ]; then
    log "run loadtest/run.sh first (no $OUT)"
    exit 1
fi
COOKIE=$(cat "$OUT/cookie.txt")
# Same configuration, one worker each; the old one on other ports. base_url
# stays, so the Responses' Destination matches both.
for v in new old; do
    sed -e "s/^threads = .*/threads = 1/" \
        -e "s/^listen = .*/listen = [\"127.0.0.1:${GW[$v]}\"]/" \
        -e "s/^admin_listen = .*/admin_listen = \"127.0.0.1:${ADMIN[$v]}\"/" \
        "$OUT/samlgate.toml" >"$OUT/$TAG-$v.toml"
done
RESULTS=$OUT/$TAG-results.txt
: >"$RESULTS"
{
    echo "nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') kernel=$(uname -r)"
    echo "old=$OLD_BIN new=$NEW_BIN rounds=$ROUNDS duration=${DURATION}s wrk_conns=$CONNS server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU"
} | tee -a "$RESULTS"

declare -A PID
start_gateways() {
    local v
    for v in new old; do
        (cd "$OUT" && exec taskset -c "$SERVER_CPU" "${BIN[$v]}" run --config "$OUT/$TAG-$v.toml") \
            >"$OUT/$TAG-$v.log" 2>&1 &
        PID[$v]=$!
        PIDS+=("${PID[$v]}")
    done
    for v in new old; do
        wait_http "http://127.0.0.1:${ADMIN[$v]}/readyz" || { log "$v gateway not ready: $OUT/$TAG-$v.log"; exit 1; }
    done
}

mkdir -p "$OUT/$TAG-backend"
sed -e "s/@PORT@/$P_BACKEND/" "$HERE/nginx-backend.conf" >"$OUT/$TAG-backend/nginx.conf"
taskset -c "$LOAD_CPU" "$NGINX" -p "$OUT/$TAG-backend/" -c "$OUT/$TAG-backend/nginx.conf" \
    -e "$OUT/$TAG-backend/error.log" -g "daemon off; pid $OUT/$TAG-backend/nginx.pid;" &
BACKEND=$!
wait_http "http://127.0.0.1:$P_BACKEND/"

for mode in $MODES; do
    if [ "$mode" = pass ]; then
        start_gateways
        for v in new old; do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:${GW[$v]}/")
            [ "$code" = 200 ] || { log "the $v gateway does not accept the session cookie ($code)"; exit 1; }
        done
        echo "pass-through (GET with session cookie), requests per server CPU-second:" | tee -a "$RESULTS"
        for r in $(seq 1 "$ROUNDS"); do
            o0=$(proc_ticks "${PID[old]}") n0=$(proc_ticks "${PID[new]}")
            w=()
            for v in old new; do
                taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Cookie: $COOKIE" \
                    -H "Accept: text/html" "http://127.0.0.1:${GW[$v]}/" >"$OUT/$TAG-wrk-$v.txt" &
                w+=($!)
            done
            wait "${w[@]}"
            o1=$(proc_ticks "${PID[old]}") n1=$(proc_ticks "${PID[new]}")
            python3 "$HERE/report.py" pair "pass round $r" old "$OUT/$TAG-wrk-old.txt" $((o1 - o0)) \
                new "$OUT/$TAG-wrk-new.txt" $((n1 - n0)) | tee -a "$RESULTS"
        done
        for v in new old; do stop_pid "${PID[$v]}"; done
    else
        echo "ACS (unique signed Responses), accepted logins per server CPU-second:" | tee -a "$RESULTS"
        for r in $(seq 1 "$ROUNDS"); do
            start_gateways
            o0=$(proc_ticks "${PID[old]}") n0=$(proc_ticks "${PID[new]}")
            w=()
            for v in old new; do
                BODIES="$OUT/acs-bodies.txt" ACS_LIMIT=$ACS_BODIES taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" \
                    -d"${DURATION}s" --latency -s "$HERE/acs.lua" "http://127.0.0.1:${GW[$v]}/saml/acs" \
                    >"$OUT/$TAG-wrk-acs-$v.txt" 2>&1 &
                w+=($!)
            done
            wait "${w[@]}"
            o1=$(proc_ticks "${PID[old]}") n1=$(proc_ticks "${PID[new]}")
            for v in new old; do stop_pid "${PID[$v]}"; done
            python3 "$HERE/report.py" pair "acs round $r" old "$OUT/$TAG-wrk-acs-old.txt" $((o1 - o0)) \
                new "$OUT/$TAG-wrk-acs-new.txt" $((n1 - n0)) | tee -a "$RESULTS"
        done
    fi
done
stop_pid "$BACKEND"
