#!/usr/bin/env bash
# Quickstart, first command: install what is missing, build, start NATS and the seven services,
# send a demo request, print the result and the endpoints; Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_TUI=false NX_NO_CLOUD=true
bash scripts/bootstrap.sh
export PATH="$PATH:/usr/sbin"
npx nx run-many -t build --output-style=static
exec node scripts/up.mjs "$@"
