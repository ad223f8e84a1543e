#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy --strict, the package build check
# (scripts/check_packages.py), then the whole pytest suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k upgrade
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check packages tests benchmarks examples scripts
.venv/bin/mypy
python3 scripts/check_packages.py  # every package built, its metadata checked, installed alone
# Two pytest-xdist workers (the interop tests mostly wait on servers and clients);
# every test of one interop server runs in the same worker (tests/interop/conftest.py).
# PYTEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup "$@"
