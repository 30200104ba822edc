#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The whole tree follows .clang-format (CONTRIBUTING.md): every C++ and CUDA source under SRC_DIR,
# build folders and fetched third-party code left out, checked with Debian 12's clang-format 14
# (another version may format differently: the check says which one it ran).
# Usage: check_format.sh SRC_DIR [CLANG_FORMAT]
set -euo pipefail
src=${1:?usage: check_format.sh SRC_DIR [CLANG_FORMAT]}
cf=${2:-clang-format}
if ! command -v "$cf" >/dev/null; then
  echo "check_format: $cf not found (deploy/install-deps.sh installs clang-format)" >&2
  exit 1
fi
cd "$src"
# Hidden folders (.git, virtual environments such as .venv-bench), build folders and out/ hold no
# code of ours.
mapfile -d '' files < <(find . -mindepth 1 \( -name '.*' -o -path './build*' -o -path './out' \) -prune -o \
  -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.h' \) \
  -print0 | sort -z)
echo "check_format: $("$cf" --version) on ${#files[@]} files"
if ! "$cf" --dry-run --Werror "${files[@]}" 2>"${TMPDIR:-/tmp}/check_format.$$"; then
  head -c 20000 "${TMPDIR:-/tmp}/check_format.$$" >&2
  rm -f "${TMPDIR:-/tmp}/check_format.$$"
  echo "check_format: files above are not formatted; run: clang-format -i FILE" >&2
  exit 1
fi
rm -f "${TMPDIR:-/tmp}/check_format.$$"
echo "check_format: all ${#files[@]} files formatted"
