#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Creates (once) the venv of the stream V2 interoperability test (requirements-stream2.txt).
# Without PyPI or venv it leaves a note and exits 0: the tests that need it then skip, saying why.
#   ensure_stream2_venv.sh VENV_DIR
set -uo pipefail
venv=$1
req="$(dirname "$0")/requirements-stream2.txt"
stamp="$venv/.stemflow-requirements"
if [[ -f "$stamp" ]] && cmp -s "$stamp" "$req"; then
  exit 0
fi
rm -rf "$venv"
if ! python3 -m venv "$venv" > "$venv.log" 2>&1; then
  echo "ensure_stream2_venv: python3 -m venv failed (see $venv.log); stream V2 interop tests will skip" >&2
  exit 0
fi
if ! "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >> "$venv.log" 2>&1; then
  echo "ensure_stream2_venv: pip install failed (see $venv.log); stream V2 interop tests will skip" >&2
  rm -rf "$venv"
  exit 0
fi
cp "$req" "$stamp"
echo "ensure_stream2_venv: $venv ready"
