#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, lints the contracts, checks that
# the generated stubs and deploy manifests are current, builds everything and runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_TUI=false NX_NO_CLOUD=true

bash scripts/bootstrap.sh
export PATH="$PATH:/usr/sbin"

echo "== proto lint (buf)"
npx buf lint
echo "== generated stubs are current"
node scripts/generate-proto.mjs --check
echo "== deploy manifests"
node deploy/check.mjs
echo "== build"
npx nx run-many -t build --output-style=static
echo "== test"
# One suite at a time: the integration suites start whole platforms and time-sensitive checks
# (deadlines, health latency under load) must not compete with another suite for two cores.
npx nx run-many -t test --parallel=1 --output-style=static "$@"
