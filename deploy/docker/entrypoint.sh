#!/bin/sh
# Selects the service from $SERVICE and replaces this shell with node (exec), so node receives
# SIGTERM from tini directly and its exit code is the container's.
set -eu
case "${SERVICE:-}" in
  gateway|orchestrator|text|image|audio|moderation|billing) ;;
  *)
    echo "entrypoint: SERVICE must be one of gateway orchestrator text image audio moderation billing (got '${SERVICE:-}')" >&2
    exit 64
    ;;
esac
cd /app
exec node "services/${SERVICE}/dist/main.js" "$@"
