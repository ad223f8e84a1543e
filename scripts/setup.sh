#!/usr/bin/env bash
# Install everything the project needs into the repository (idempotent):
# Poetry (via pip when missing), the Poetry venv in .venv, and the npm packages
# the interop tests and the demo use.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v poetry >/dev/null 2>&1; then
  poetry=(poetry)
else
  python3 -m pip install --quiet --disable-pip-version-check poetry
  poetry=(python3 -m poetry)
fi
"${poetry[@]}" install --no-interaction --quiet
(cd tests/interop/js && npm ci --no-audit --no-fund --silent)
(cd examples/demo && npm ci --no-audit --no-fund --silent)
