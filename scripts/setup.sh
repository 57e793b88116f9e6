#!/usr/bin/env bash
# Installs every Debian and PyPI package Capstan needs on a fresh machine (idempotent).
# Debian: C libraries for the system-library targets, and the real servers the embedded mode
# and the tests start (redis-server, PostgreSQL). PyPI: reference libraries for tests only.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  librdkafka-dev libhiredis-dev libpq-dev libcurl4-openssl-dev libyaml-dev pkg-config
  redis-server postgresql postgresql-contrib
  libxgboost-dev libgomp1 protobuf-compiler zlib1g-dev libssl-dev gzip openssl
  prometheus-alertmanager prometheus chromium python3-venv
)
PYTHON_PACKAGES=(
  numpy==2.4.6 xgboost-cpu==3.2.0 lightgbm==4.7.0 "tritonclient[http,grpc]==2.73.0" duckdb==2.0.0
  helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 PyYAML==6.0.3
)
# kubectl (Debian's kubernetes-client) drives the operator's kubectl smoke test; a machine that
# already has a kubectl keeps it.
if ! command -v kubectl >/dev/null; then DEBIAN_PACKAGES+=(kubernetes-client); fi
# gdb: scripts/run-tests.sh records a hung test process's threads before stopping it.
if ! command -v gdb >/dev/null; then DEBIAN_PACKAGES+=(gdb); fi

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

# Evidently (the drift tests' and benchmark's reference) pins pandas < 3, which the rest must not
# inherit: it gets a virtual environment of its own, .venv/evidently (CAPSTAN_EVIDENTLY_PYTHON
# overrides the interpreter the drift tests and bench/drift.sh use).
EVIDENTLY_PACKAGES=(numpy==2.4.6 pandas==2.3.3 scipy==1.17.1 evidently==0.7.23)
EVIDENTLY_VENV=.venv/evidently
if [ -z "${CAPSTAN_EVIDENTLY_PYTHON:-}" ] && ! "$EVIDENTLY_VENV/bin/python3" -c "import evidently, scipy" 2>/dev/null; then
  echo "setup: creating $EVIDENTLY_VENV (evidently, pandas < 3, scipy)"
  python3 -m venv "$EVIDENTLY_VENV"
  "$EVIDENTLY_VENV/bin/python3" -m pip install --quiet --disable-pip-version-check "${EVIDENTLY_PACKAGES[@]}"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.3 expected at /opt/swift)"; exit 1; }
echo "setup: ok"
