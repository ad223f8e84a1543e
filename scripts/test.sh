#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy --strict, then the whole pytest suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k upgrade
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check packages tests benchmarks examples
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
