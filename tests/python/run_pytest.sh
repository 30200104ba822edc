#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the stemflow package's pytest tests with the test venv's interpreter against the module in
# the build tree. Skips (exit 77) when the venv is absent (ensure_venv.sh found no network; under
# CI that already failed the python_venv fixture).
#   run_pytest.sh VENV BUILD_DIR TEST_DIR [pytest args...]
set -uo pipefail
venv=$1 build=$2 tests=$3
shift 3
if [[ ! -x "$venv/bin/python" ]]; then
  echo "skipped: no test venv at $venv (tests/python/ensure_venv.sh could not install it)"
  exit 77
fi
if [[ ! -f "$build/python/stemflow/__init__.py" ]]; then
  echo "skipped: the module stemflow._core was not built (STEMFLOW_PYTHON: nanobind not importable"
  echo "at configure time; make test installs the venv first, or reconfigure after ensure_venv.sh)"
  exit 77
fi
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"
cd "$tests" && exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
