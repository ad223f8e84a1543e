#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, mypy --strict, the docs site build,
# the package build check (scripts/check_packages.py), then the whole pytest suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k upgrade
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check packages tests benchmarks examples scripts
.venv/bin/mypy
# The docs site (mkdocs.yml), strict: a broken link or anchor, a missing reference or a
# docstring warning fails it (a few seconds; the site goes to .cache/site).
# (--quiet would hide the warnings, and strict mode counts only those it shows.)
if ! docs_log=$(NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict 2>&1); then
  echo "$docs_log" >&2
  echo "the docs site does not build (mkdocs build --strict), see above" >&2
  exit 1
fi
python3 scripts/check_packages.py  # every package built, its metadata checked, installed alone
# Two pytest-xdist workers (the interop tests mostly wait on servers and clients);
# every test of one interop server runs in the same worker (tests/interop/conftest.py).
# PYTEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup "$@"
