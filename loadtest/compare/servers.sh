# Sourced by compare.sh: sets up and starts each server of the comparison
# under OUT, from scratch, on loopback. Nothing is written outside OUT (no
# /etc, /var, /run): Apache and shibd get their paths from the config
# files made here and from SHIBSP_* variables.
# shellcheck shell=bash

APACHE=${APACHE:-/usr/sbin/apache2}
SHIBD=${SHIBD:-/usr/sbin/shibd}
IDP_ENTITY=https://idp.loadtest.invalid/idp

# The SPs compared: port, entity ID, ACS URL, the status of an accepted
# login and the name (prefix) of the session cookie it sets.
declare -A SP_PORT SP_ENTITY SP_ACS SP_STATUS SP_COOKIE SP_PIDS
SP_PORT[samlgate]=$P_SG
SP_ENTITY[samlgate]=http://127.0.0.1:$P_SG/saml/metadata
SP_ACS[samlgate]=http://127.0.0.1:$P_SG/saml/acs
SP_STATUS[samlgate]=303
SP_COOKIE[samlgate]=samlgate_session
SP_PORT[mellon]=$P_MELLON
SP_ENTITY[mellon]=http://127.0.0.1:$P_MELLON/mellon/metadata
SP_ACS[mellon]=http://127.0.0.1:$P_MELLON/mellon/postResponse
SP_STATUS[mellon]=303
SP_COOKIE[mellon]=mellon-cookie
# mod_auth_mellon again, with OpenSSL's default CA locations pointed at
# nothing (SSL_CERT_FILE, SSL_CERT_DIR): what loading the system CA bundle
# on every ACS POST costs it (apache-mellon.conf).
SP_PORT[mellon-noca]=$P_MELLON_NOCA
SP_ENTITY[mellon-noca]=http://127.0.0.1:$P_MELLON_NOCA/mellon/metadata
SP_ACS[mellon-noca]=http://127.0.0.1:$P_MELLON_NOCA/mellon/postResponse
SP_STATUS[mellon-noca]=303
SP_COOKIE[mellon-noca]=mellon-cookie
SP_PORT[shib]=$P_SHIB
SP_ENTITY[shib]=http://127.0.0.1:$P_SHIB/shibboleth
SP_ACS[shib]=http://127.0.0.1:$P_SHIB/Shibboleth.sso/SAML2/POST
SP_STATUS[shib]=302
SP_COOKIE[shib]=_shibsession_

# gen_for SP DIR COUNT: COUNT unique signed Responses for SP (its
# Audience, Destination and Recipient), signed with the one IdP key, made
# now (Shibboleth refuses a Response issued more than expires=60 s +
# clockSkew 180 s ago).
gen_for() {
    "$GEN" --out "$2" --count "$3" --idp-key "$OUT/idp-key.pem" --idp-cert "$OUT/idp-cert.pem" \
        --sp-entity-id "${SP_ENTITY[$1]}" --acs-url "${SP_ACS[$1]}" --responses-only \
        --jobs 2 "${@:4}" 2>>"$OUT/gen.log"
}

# An SP key and certificate (Mellon signs AuthnRequests with it; Shibboleth
# loads it as its signing and decryption credential).
sp_key() { # dir
    openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=compare-sp" -days 30 \
        -keyout "$1/sp-key.pem" -out "$1/sp-cert.pem" 2>/dev/null
}

start_backend() {
    start_nginx backend nginx-backend.conf "$P_BACKEND" "" 1
    BACKEND_PID=$LAST_PID
    wait_http "http://127.0.0.1:$P_BACKEND/"
}

start_nginx_proxy() {
    start_nginx nginx-proxy nginx-proxy.conf "$P_NGINX" "127.0.0.1:$P_BACKEND" 2
    SP_PIDS[nginx]=$LAST_PID
    wait_http "http://127.0.0.1:$P_NGINX/"
}

# samlgate with the configuration examples/gen_responses.rs writes (the
# same IdP key, IdP-initiated login allowed, one route to the backend, the
# four identity headers).
start_samlgate() {
    local dir=$OUT/samlgate
    mkdir -p "$dir"
    "$GEN" --out "$dir" --count 1 --idp-key "$OUT/idp-key.pem" --idp-cert "$OUT/idp-cert.pem" \
        --gateway-port "$P_SG" --admin-port "$P_SG_ADMIN" --backend-port "$P_BACKEND" \
        --threads 2 2>>"$OUT/gen.log"
    (cd "$dir" && exec "$SAMLGATE" run --config "$dir/samlgate.toml") >"$dir/samlgate.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    SP_PIDS[samlgate]=$LAST_PID
    wait_http "http://127.0.0.1:$P_SG_ADMIN/readyz"
}

# Apache's directory: its config reads CMP_* from the environment.
apache_dir() { # sp
    local dir=$OUT/$1
    mkdir -p "$dir/run" "$dir/cache"
    sp_key "$dir"
    cp "$OUT/idp/idp-metadata.xml" "$dir/idp-metadata.xml"
    # The workers run as www-data (Apache refuses to run them as root).
    chown -R www-data:www-data "$dir/run" "$dir/cache"
}

run_apache() { # sp conf
    local dir=$OUT/$1
    CMP_DIR=$dir CMP_PORT=${SP_PORT[$1]} CMP_BACKEND=$P_BACKEND CMP_HERE=$HERE \
        "$APACHE" -d "$dir" -f "$HERE/$2" -DFOREGROUND >"$dir/stdout.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

start_mellon() { # mellon | mellon-noca
    local sp=$1 dir=$OUT/$1 cert port=${SP_PORT[$1]}
    apache_dir "$sp"
    cert=$(sed -e '/-----/d' "$dir/sp-cert.pem" | tr -d '\n')
    sed -e "s/@PORT@/$port/g" -e "s|@CERT@|$cert|" "$HERE/mellon-sp-metadata.xml" >"$dir/sp-metadata.xml"
    if [ "$sp" = mellon-noca ]; then
        SSL_CERT_FILE=$dir/no-ca-bundle SSL_CERT_DIR=$dir/no-ca-dir run_apache "$sp" apache-mellon.conf
    else
        run_apache "$sp" apache-mellon.conf
    fi
    SP_PIDS[$sp]=$LAST_PID
    # Unauthenticated: Mellon sends the browser to its login handler (303).
    wait_http "http://127.0.0.1:$port/" 303
}

start_shib() {
    local dir=$OUT/shib f
    apache_dir shib
    for f in shibboleth2.xml shibd.logger native.logger; do
        sed -e "s|@DIR@|$dir|g" -e "s|@HERE@|$HERE|g" -e "s/@PORT@/$P_SHIB/g" \
            -e "s|@IDP@|$IDP_ENTITY|g" "$HERE/$f" >"$dir/$f"
    done
    # mod_shib (in the www-data workers) writes its log; shibd runs as root.
    touch "$dir/native.log"
    chown www-data:www-data "$dir/native.log"
    export SHIBSP_CFGDIR=$dir SHIBSP_RUNDIR=$dir/run SHIBSP_CACHEDIR=$dir/cache SHIBSP_LOGDIR=$dir
    SHIBSP_LOGGING=$dir/shibd.logger "$SHIBD" -F -f -c "$dir/shibboleth2.xml" -p "$dir/run/shibd.pid" \
        >"$dir/shibd.stdout.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    local shibd=$LAST_PID i
    for i in $(seq 1 300); do
        [ -S "$dir/run/shibd.sock" ] && break
        kill -0 "$shibd" 2>/dev/null || { log "shibd exited: $(tail -5 "$dir/shibd.stdout.log" "$dir/shibd_warn.log" 2>/dev/null)"; return 1; }
        sleep 0.1
    done
    SHIBSP_LOGGING=$dir/native.logger run_apache shib apache-shib.conf
    unset SHIBSP_CFGDIR SHIBSP_RUNDIR SHIBSP_CACHEDIR SHIBSP_LOGDIR
    SP_PIDS[shib]=$LAST_PID+$shibd
    # Unauthenticated: mod_shib sends the browser to the IdP (302).
    wait_http "http://127.0.0.1:$P_SHIB/" 302
}
