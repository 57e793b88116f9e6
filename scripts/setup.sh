#!/usr/bin/env bash
# Installs every Debian and PyPI package Capstan needs on a fresh machine (idempotent).
# Debian: C libraries for the system-library targets, and the real servers the embedded mode
# and the tests start (redis-server, PostgreSQL). PyPI: reference libraries for tests only.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  librdkafka-dev libhiredis-dev libpq-dev libcurl4-openssl-dev libyaml-dev pkg-config
  redis-server postgresql postgresql-contrib
  libxgboost-dev libgomp1
)
PYTHON_PACKAGES=(
  numpy==2.4.6 xgboost==3.2.0 lightgbm==4.7.0
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian postgresql package starts a system cluster; Capstan never uses it (it runs private
# clusters on free ports), so it is left alone.

if [ "${#PYTHON_PACKAGES[@]}" -gt 0 ]; then
  python3 -m pip install --quiet --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.3 expected at /opt/swift)"; exit 1; }
echo "setup: ok"
