# Shared by run.sh, pair.sh and compare/compare.sh (sourced, after HERE is
# set; compare.sh sets ROOT too): locations, logging, waiting for a server,
# starting and stopping processes, and the CPU accounting of a server's
# processes.
# shellcheck shell=bash
ROOT=${ROOT:-$(cd "$HERE/.." && pwd)}
LOADTEST=$ROOT/loadtest
OUT=${OUT:-$HERE/out}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TD=$CARGO_TARGET_DIR
NGINX=${NGINX:-/usr/sbin/nginx}
K6=${K6:-k6}
CLK_TCK=$(getconf CLK_TCK)
TIMEFORMAT='%U %S'

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

wait_http() { # url [status]
    local i
    for i in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = "${2:-200}" ]; then
            return 0
        fi
        sleep 0.1
    done
    log "not ready: $1"
    return 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- processes ----------------------------------------------------------------
# Every server a script starts goes into PIDS; `cleanup` (the scripts' EXIT
# trap) stops them all.
PIDS=()
LAST_PID=

children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -s ' \n' ' ' || true; }

stop_pid() {
    local pid=$1 kids i keep=() p
    # Forget it first, so that cleanup never signals a reused PID.
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(children "$pid")
    kill -INT "$pid" 2>/dev/null || true # fast shutdown (nginx and pingora)
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}

start_nginx() { # name conf-template port [backend workers]
    local name=$1 dir=$OUT/$1
    mkdir -p "$dir"
    sed -e "s/@PORT@/$3/" -e "s/@BACKEND@/${4:-}/" -e "s/@WORKERS@/${5:-2}/" "$LOADTEST/$2" >"$dir/nginx.conf"
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
        -g "daemon off; pid $dir/nginx.pid;" >"$dir/stdout.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# --- CPU accounting -------------------------------------------------------------
# utime+stime+cutime+cstime (ticks) of a process: /proc/PID/stat sums all
# its threads, and the children it has reaped (an Apache worker process
# that exits during a run) land in cutime/cstime.
proc_ticks() { [ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12+$13+$14+$15}' || echo 0; }
# A process and its direct children (nginx and Apache workers).
tree_ticks() {
    local total c
    total=$(proc_ticks "$1")
    for c in $(children "$1"); do total=$((total + $(proc_ticks "$c"))); done
    echo "$total"
}
# A server made of several process trees, "PID+PID" (Apache + shibd):
# the ticks of each tree, "+"-separated.
server_ticks() {
    local p out=""
    for p in ${1//+/ }; do out="$out+$(tree_ticks "$p")"; done
    echo "${out#+}"
}
sum_ticks() { echo $(($1)); } # "a+b" -> a+b
# Per-tree delta of two server_ticks readings: "1+2" "5+9" -> "4+7".
delta_ticks() {
    local IFS=+ a b i out=""
    read -ra a <<<"$1"
    read -ra b <<<"$2"
    for i in "${!a[@]}"; do out="$out+$((b[i] - a[i]))"; done
    echo "${out#+}"
}
sys_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# --- measured runs ---------------------------------------------------------------
# measure LABEL KIND SERVER k6-args...: one k6 run, one row in
# OUT/TAG-results.tsv (report.py row). SERVER is a PID or "PID+PID";
# BACKEND_PID is the backend's. The per-tree CPU split goes to
# OUT/TAG-split.tsv.
measure() {
    local label=$1 kind=$2 spid=$3
    shift 3
    local sum=$OUT/$TAG-k6-$label.json s0 s1 b0 b1 t0 t1 k6t d
    rm -f "$sum"
    log "run $label ($kind)"
    b0=$(tree_ticks "$BACKEND_PID") s0=$(server_ticks "$spid") t0=$(sys_busy)
    { time "$K6" run --quiet --no-usage-report -e SUMMARY="$sum" "$@" \
        >"$OUT/$TAG-k6-$label.log" 2>&1; } 2>"$OUT/$TAG-k6-$label.time" || true
    b1=$(tree_ticks "$BACKEND_PID") s1=$(server_ticks "$spid") t1=$(sys_busy)
    k6t=$(awk '{print $1+$2}' "$OUT/$TAG-k6-$label.time" 2>/dev/null || echo 0)
    d=$(delta_ticks "$s0" "$s1")
    printf '%s\t%s\t%s\n' "$label" "$kind" "$d" >>"$OUT/$TAG-split.tsv"
    python3 "$LOADTEST/report.py" row "$label" "$kind" "$sum" "$CLK_TCK" \
        "$(sum_ticks "$d")" $((b1 - b0)) "$k6t" $((t1 - t0)) >>"$OUT/$TAG-results.tsv"
}

# wrk_measure LABEL SERVER URL [COOKIE_FILE]: the same GET with wrk (1
# thread, VUS connections), which needs far less CPU per request than k6.
wrk_measure() {
    local label=$1 spid=$2 s0 s1 b0 b1 t0 t1 gent d cookie=${4:-$OUT/cookie.txt}
    log "run wrk:$label"
    b0=$(tree_ticks "$BACKEND_PID") s0=$(server_ticks "$spid") t0=$(sys_busy)
    { time wrk -t1 -c"$VUS" -d"$DURATION" --latency -H "Cookie: $(cat "$cookie")" \
        -H "Accept: text/html" "$3" >"$OUT/$TAG-wrk-$label.log" 2>&1; } 2>"$OUT/$TAG-wrk-$label.time" || true
    b1=$(tree_ticks "$BACKEND_PID") s1=$(server_ticks "$spid") t1=$(sys_busy)
    gent=$(awk '{print $1+$2}' "$OUT/$TAG-wrk-$label.time" 2>/dev/null || echo 0)
    d=$(delta_ticks "$s0" "$s1")
    printf '%s\t%s\t%s\n' "$label" wrk "$d" >>"$OUT/$TAG-split.tsv"
    python3 "$LOADTEST/report.py" wrkrow "$label" "$OUT/$TAG-wrk-$label.log" "$CLK_TCK" \
        "$(sum_ticks "$d")" $((b1 - b0)) "$gent" $((t1 - t0)) >>"$OUT/$TAG-results.tsv"
}
