#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The run-time image of deploy/container/Containerfile installs the Debian package of every shared
# library stemflow links directly (readelf NEEDED), so that the image runs what the build built.
#   container_libs.sh STEMFLOW_EXE CONTAINERFILE
set -euo pipefail
exe=$1
containerfile=$2
missing=0
for lib in $(readelf -d "$exe" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !p {p = $NF} END {print p}')
  [[ -n "$path" ]] || { echo "no $lib on this machine"; missing=1; continue; }
  # dpkg knows a file under one of its names (/lib or /usr/lib on a merged /usr): ask for both.
  pkg=$({ dpkg -S "$path" || dpkg -S "$(readlink -f "$path")"; } 2>/dev/null | head -1 | cut -d: -f1 || true)
  case "$pkg" in
    libc6 | libstdc++6 | libgcc-s1 | "") continue ;;  # in every Debian image
  esac
  if ! grep -qw -- "$pkg" "$containerfile"; then
    echo "$lib comes from $pkg, which $containerfile does not install"
    missing=1
  fi
done
exit $missing
