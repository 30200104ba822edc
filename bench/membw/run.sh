#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# bench/membw: the memory read bandwidth (membw) beside a whole-process replay of two virtual
# detectors and CoM from the page cache, as a fraction of it (issue 16's goal: >= 70 %).
#   bench/membw/run.sh [BUILD_DIR] [SCAN] [FRAME]   (default build, 128x128, 128x128)
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
build=${1:-build}
scan=${2:-128x128}
frame=${3:-128x128}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "bench/membw: $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1 /proc/loadavg)"
bench_load_begin
"$build/bench/membw/membw" 1024 5 | tee "$tmp/membw.txt"
best=$(awk -F'|' 'NR>2 {gsub(/ /,"",$3); if ($3 > b) b = $3} END {print b}' "$tmp/membw.txt")
"$build/sim/stemflow-sim" synth --scan "$scan" --frame "$frame" --seed 3 --out "$tmp/scan.npy" > /dev/null
q=${frame%x*}
c=$(awk -v q="$q" 'BEGIN {print q / 2}')
cat > "$tmp/vi.toml" <<T
[input]
source = "file"
path = "$tmp/scan.npy"
[[operators]]
type = "virtual_image"
name = "bf"
detector = "circle"
center = [$c, $c]
radius = $(awk -v q="$q" 'BEGIN {print q / 16}')
[[operators]]
type = "virtual_image"
name = "adf"
detector = "annulus"
center = [$c, $c]
radii = [$(awk -v q="$q" 'BEGIN {print q / 10}'), $(awk -v q="$q" 'BEGIN {print q / 3}')]
[[operators]]
type = "center_of_mass"
name = "com"
T
cat "$tmp/scan.npy" > /dev/null  # into the page cache
printf "\n| replay (2 detectors + CoM, %s of %s u16) | frames/s | GB/s read | of memory bandwidth |\n|---|---|---|---|\n" "$scan" "$frame"
fb=$(awk -v f="$frame" 'BEGIN {split(f, a, "x"); print a[1] * a[2] * 2}')
for run in 1 2 3; do
  fps=$("$build/pipeline/stemflow" run "$tmp/vi.toml" 2>&1 | grep -o '[0-9]* frames/s' | tail -1 | cut -d' ' -f1)
  awk -v r="$run" -v f="$fps" -v fb="$fb" -v b="$best" 'BEGIN {gb = f * fb / 1e9; printf "| run %d | %d | %.2f | %.0f %% |\n", r, f, gb, 100 * gb / b}'
done
bench_load_end
