# Shared by run.sh and pair.sh (sourced, after HERE is set): locations,
# logging, and waiting for a server to answer.
# shellcheck shell=bash
ROOT=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$HERE/out}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TD=$CARGO_TARGET_DIR
NGINX=${NGINX:-/usr/sbin/nginx}

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
