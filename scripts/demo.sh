#!/usr/bin/env bash
# Set up (idempotent) and start the demo chat on http://127.0.0.1:${PORT:-8000}/ (Ctrl-C stops it).
# HOST=0.0.0.0 serves it to other machines too. The page's switches force long-polling
# (?polling=1) and engine.io-client 3 (?eio=3).
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINEIO_SETUP_BROWSER=0 ENGINEIO_SETUP_SERVERS=0 scripts/setup.sh  # no Chromium, redis-server, nginx, haproxy: scripts/test.sh installs them
exec .venv/bin/python examples/demo/app.py --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
