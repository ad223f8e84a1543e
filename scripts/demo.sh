#!/usr/bin/env bash
# Set up (idempotent) and start the demo chat on http://127.0.0.1:${PORT:-8000}/ (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "demo chat on http://127.0.0.1:${PORT:-8000}/  (?polling=1 forces polling, ?eio=3 uses engine.io-client 3)"
exec .venv/bin/uvicorn --app-dir examples/demo app:app --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --ws-per-message-deflate false
