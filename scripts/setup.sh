#!/usr/bin/env bash
# Install everything the project needs into the repository (idempotent):
# Poetry (via pip when missing), the Poetry venv in .venv, and the npm packages
# the interop tests and the demo use, and Chromium for the demo's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v poetry >/dev/null 2>&1; then
  poetry=(poetry)
else
  python3 -m pip install --quiet --disable-pip-version-check poetry
  poetry=(python3 -m poetry)
fi
"${poetry[@]}" install --no-interaction --quiet
# gunicorn 23, the last release with its own `-k eventlet`, beside the venv's gunicorn
# (the interop entry gunicorn23-eventlet puts it first on PYTHONPATH).
if [ ! -f .cache/gunicorn23/gunicorn/__init__.py ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --target .cache/gunicorn23 "gunicorn==23.0.0"
fi
(cd tests/interop/js && npm ci --no-audit --no-fund --silent)
(cd examples/demo && npm ci --no-audit --no-fund --silent)
# The demo's browser test (tests/demo): playwright-core from npm drives the system's Chromium.
(cd tests/demo && npm ci --no-audit --no-fund --silent)
# System packages the tests start themselves: redis-server, nginx and haproxy (the cluster
# and sticky-session tests),
# Chromium (the demo's browser test). ENGINEIO_SETUP_BROWSER=0 skips Chromium and
# ENGINEIO_SETUP_SERVERS=0 the servers (scripts/demo.sh needs none of them).
# apt only for what is missing, and only as root (CI); otherwise say what to install.
missing=()
if [ "${ENGINEIO_SETUP_SERVERS:-1}" != 0 ]; then
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
fi
if [ "${ENGINEIO_SETUP_BROWSER:-1}" != 0 ] && [ -z "${DEMO_CHROMIUM:-}" ] \
    && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"; echo "setup: could not install ${missing[*]}" >&2; exit 1
    fi
    rm -f "$log"
  else
    echo "setup: missing ${missing[*]}; the tests need them (sudo apt-get install ${missing[*]})" >&2
  fi
fi
