#!/usr/bin/env bash
# Installs what building and testing samlgate needs on a fresh Debian 12
# machine with Rust (as root). Cheap when everything is already there.
set -euo pipefail

want=(pkg-config libssl-dev cmake xmlsec1 libxml2-utils python3-lxml opensaml-schemas xmltooling-schemas python3-pysaml2 prometheus redis-server redis-tools)
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
