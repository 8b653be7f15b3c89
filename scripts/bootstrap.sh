#!/usr/bin/env bash
# Installs what the platform needs on a fresh Debian machine, and nothing that is already there:
# nats-server, espeak-ng, postgresql and chromium from Debian's packages, and the npm packages from the
# lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || packages+=(nats-server)
# billing's tests run its store suite against a real PostgreSQL and its dashboard in Chromium.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
# audio turns text into phonemes with eSpeak NG.
command -v espeak-ng >/dev/null 2>&1 || packages+=(espeak-ng)
if ((${#packages[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
