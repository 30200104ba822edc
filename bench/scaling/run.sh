#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# bench/scaling: the same replay on the same cores as 1 process x N threads and as N MPI ranks x 1
# thread (and 1 x 1 as the per-core base), for virtual imaging + CoM and for Bragg disks (poly),
# so that the cost of adding ranks shows per frame (issue 12's goal: < 5 %). Each row is the median
# of RUNS runs of the whole job, timed two ways: the engine's own rate (rank 0's "series ... frames/s",
# series start to results written) and the wall time of the whole command (MPI start-up, FFTW
# planning and file opening included).
#   bench/scaling/run.sh [BUILD_DIR] [RUNS]   (default build, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
build=$(realpath "${1:-build}")
runs=${2:-3}
cores=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
load_before=$(load)
BENCH_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/scaling: $(date -u +%Y-%m-%dT%H:%MZ) on $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load before $load_before"
mpirun_args=(--oversubscribe --bind-to none)
[[ $(id -u) -eq 0 ]] && mpirun_args+=(--allow-run-as-root)
sim="$build/sim/stemflow-sim"
exe="$build/pipeline/stemflow"
"$sim" synth --scan 256x128 --frame 128x128 --seed 3 --out "$tmp/vi.npy" > /dev/null
"$sim" synth --scan 32x64 --frame 256x256 --seed 3 --out "$tmp/bragg.npy" > /dev/null
"$sim" synth --scan 1x8 --frame 256x256 --vacuum --out "$tmp/vacuum.npy" > /dev/null
# The paper's two frame shapes ("Parallelizing py4DSTEM": 201x50 of 420x422, 83x558 of 1792x1920),
# scaled-down scans, for the projection in BENCHMARKS.md.
"$sim" synth --scan 16x25 --frame 420x422 --seed 3 --out "$tmp/small.npy" > /dev/null
"$sim" synth --scan 1x8 --frame 420x422 --vacuum --out "$tmp/small_vacuum.npy" > /dev/null
"$sim" synth --scan 4x12 --frame 1792x1920 --seed 3 --out "$tmp/large.npy" > /dev/null
"$sim" synth --scan 1x4 --frame 1792x1920 --vacuum --out "$tmp/large_vacuum.npy" > /dev/null
cat "$tmp"/*.npy > /dev/null  # into the page cache
cat > "$tmp/vi.toml" <<T
[input]
source = "file"
path = "$tmp/vi.npy"
[[operators]]
type = "virtual_image"
name = "bf"
detector = "circle"
center = [64, 64]
radius = 8
[[operators]]
type = "virtual_image"
name = "adf"
detector = "annulus"
center = [64, 64]
radii = [13, 42]
[[operators]]
type = "center_of_mass"
name = "com"
[outputs.hdf5]
path = "$tmp/vi.h5"
if_exists = "overwrite"
T
cat > "$tmp/bragg.toml" <<T
[input]
source = "file"
path = "$tmp/bragg.npy"
[[operators]]
type = "bragg_disks"
name = "bragg"
vacuum = "$tmp/vacuum.npy"
subpixel = "poly"
[outputs.hdf5]
path = "$tmp/bragg.h5"
if_exists = "overwrite"
T
for paper in small large; do
  sed -e "s#$tmp/bragg.npy#$tmp/$paper.npy#" -e "s#$tmp/vacuum.npy#$tmp/${paper}_vacuum.npy#" \
      -e "s#$tmp/bragg.h5#$tmp/$paper.h5#" "$tmp/bragg.toml" > "$tmp/$paper.toml"
done

# One job: prints "<engine frames/s> <wall s>".
job() {
  local ranks=$1 threads=$2 cfg=$3 log="$tmp/log" t0 t1
  t0=$(date +%s.%N)
  if [[ $ranks -eq 1 ]]; then
    "$exe" run "$cfg" --set pipeline.threads="$threads" > "$log" 2>&1
  else
    mpirun "${mpirun_args[@]}" -n "$ranks" "$exe" run "$cfg" --set pipeline.threads="$threads" > "$log" 2>&1
  fi
  t1=$(date +%s.%N)
  local fps
  # Rank 0's rate is the job's (it ends the series when every rank's results are in): frames
  # processed over the seconds of its series line (series start to results written).
  fps=$( ( [[ $ranks -eq 1 ]] && cat "$log" || grep 'rank 0\]' "$log") | bench_series_fps)
  echo "$fps $(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
}

for work in ${WORK:-vi bragg small large}; do
  case $work in
    vi) frames=32768 what="2 virtual detectors + CoM, 256x128 scan of 128x128 u16" ;;
    bragg) frames=2048 what="Bragg disks (poly, f32), 32x64 scan of 256x256 u16" ;;
    small) frames=400 what="Bragg disks (poly, f32), 16x25 scan of 420x422 u16 (the paper's small dataset's frames)" ;;
    large) frames=48 what="Bragg disks (poly, f32), 4x12 scan of 1792x1920 u16 (the paper's large dataset's frames)" ;;
  esac
  printf "\n%s (%d frames), median of %d runs\n\n" "$what" "$frames" "$runs"
  printf "| layout | frames/s (engine) | frames/s (whole job, wall) | per core (engine) | efficiency vs 1 process x %d threads |\n|---|---|---|---|---|\n" "$cores"
  base=""
  for layout in "1 1" "1 $cores" "$cores 1"; do
    read -r ranks threads <<< "$layout"
    fpss=() walls=()
    for ((r = 0; r < runs; ++r)); do
      read -r f w <<< "$(job "$ranks" "$threads" "$tmp/$work.toml")"
      fpss+=("$f") walls+=("$w")
    done
    fps=$(printf '%s\n' "${fpss[@]}" | median)
    wall=$(printf '%s\n' "${walls[@]}" | median)
    used=$((ranks * threads))
    if [[ "$layout" == "1 $cores" ]]; then base=$fps; fi
    eff=$([[ -n "$base" ]] && awk -v f="$fps" -v b="$base" 'BEGIN {printf "%.1f %%", 100 * f / b}' || echo "-")
    awk -v l="$ranks rank(s) x $threads thread(s)" -v f="$fps" -v w="$wall" -v n="$frames" -v u="$used" -v e="$eff" \
      'BEGIN {printf "| %s | %.4g | %.4g | %.4g | %s |\n", l, f, n / w, f / u, e}'
  done
done
echo
bench_load_end
