#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Creates (once) the virtual environment the Python-side tests use: py4DSTEM, h5py and friends from
# PyPI (tests/python/requirements.txt). Run by ctest as the setup of the fixture `python_venv`.
# Without network or pip, it leaves a note and exits 0: the tests that need the venv then skip,
# saying why.
#   ensure_venv.sh VENV_DIR
set -uo pipefail
venv=$1
req="$(dirname "$0")/requirements.txt"
stamp="$venv/.stemflow-requirements"
if [[ -f "$stamp" ]] && cmp -s "$stamp" "$req"; then
  exit 0
fi
rm -rf "$venv"
if ! python3 -m venv "$venv" > "$venv.log" 2>&1; then
  echo "ensure_venv: python3 -m venv failed (see $venv.log); Python-side tests will skip" >&2
  exit 0
fi
if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >> "$venv.log" 2>&1; then
  echo "ensure_venv: pip install failed (see $venv.log); Python-side tests will skip" >&2
  rm -rf "$venv"
  exit 0
fi
cp "$req" "$stamp"
echo "ensure_venv: $venv ready"
