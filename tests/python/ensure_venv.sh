#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Creates (once) the virtual environment the Python-side tests use: py4DSTEM, h5py and friends from
# PyPI (tests/python/requirements.txt). Run by ctest as the setup of the fixture `python_venv`.
# Without network or pip, it leaves a note and exits 0: the tests that need the venv then skip,
# saying why. Under CI (CI set, as .ci/run's caller sets it) PyPI is reachable, so a failed install
# is a failure (exit 1: ctest then fails the fixture and does not run its tests), never a skip.
#   ensure_venv.sh VENV_DIR
set -uo pipefail
venv=$1
req="$(dirname "$0")/requirements.txt"
stamp="$venv/.stemflow-requirements"
if [[ -f "$stamp" ]] && cmp -s "$stamp" "$req"; then
  exit 0
fi
give_up() {
  echo "ensure_venv: $1 (see $venv.log); Python-side tests will skip" >&2
  if [[ -n "${CI:-}" ]]; then
    echo "ensure_venv: CI is set: this is a failure, not a skip" >&2
    exit 1
  fi
  exit 0
}
rm -rf "$venv"
if ! python3 -m venv "$venv" > "$venv.log" 2>&1; then
  give_up "python3 -m venv failed"
fi
if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >> "$venv.log" 2>&1; then
  rm -rf "$venv"
  give_up "pip install failed"
fi
cp "$req" "$stamp"
echo "ensure_venv: $venv ready"
