#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# bench/seed: whole-process replay of Bragg disk detection against py4DSTEM, at 128², 256², 512² and
# at the frame shapes of the paper this project grew from ("Parallelizing py4DSTEM with Dask": a
# 201x50 scan of 420x422 frames, 10 min serial, 2 min on a 32-core node; an 83x558 scan of
# 1792x1920 frames, ~15 min on 4 nodes), as scaled-down synthetic scans (issue 16 items 1 and 4).
#
# Per frame shape, on the same frames (`stemflow-sim synth --seed 3`, u16) and the same template
# (py4DSTEM's own: Probe.from_vacuum_data -> get_probe_size -> get_kernel sigmoid, from 8 vacuum
# frames, given to stemflow as `template =`), with py4DSTEM 0.14.18's find_Bragg_disks defaults
# except subpixel = "poly" (stemflow's defaults are the same):
#   py4DSTEM serial      DataCube.find_Bragg_disks on every frame, one process, BLAS on one thread,
#                        after an untimed call on 4 frames (bench/bragg_cpu/py4dstem_bench.py)
#   operator only        bench_bragg_cpu on all cores (f32, warm: FFTW plans made, one untimed pass)
#   stemflow T threads   `stemflow run` of the .npy from the page cache with an HDF5 results file,
#                        pipeline.threads = T for T = 1 .. nproc (the scaling curve); the engine's
#                        rate (series start to results written) and the whole command's wall time
#                        (start-up: the template's FFT plans, the file's open)
# The paper shapes are projected to the full datasets: start-up + full frames / engine rate.
#
#   bench/seed/run.sh [BUILD_DIR]     (default build)
# Env: RUNS (3, the median is kept), SETS ("128 256 512 small large"), VENV (.venv-bench, shared
# with bench/bragg_cpu; made on first use, needs PyPI). About 6 minutes on the 2-core VM.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/lib.sh"
build=$(realpath "${1:-$ROOT/build}")
RUNS=${RUNS:-3}
SETS=${SETS:-128 256 512 small large}
VENV=${VENV:-$ROOT/.venv-bench}
cores=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# FFTW wisdom of this run only: the first stemflow run of each shape plans (measure) and saves it,
# the later ones start from it, as on a machine where stemflow has run before. A cache left by
# other runs (a patient plan, say) would make the rows depend on the machine's history.
export XDG_CACHE_HOME="$tmp/cache"

if ! "$VENV/bin/python" -c "import py4DSTEM" 2>/dev/null; then
  echo "bench/seed: creating $VENV with py4dstem==0.14.18" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "numpy<2" "py4dstem==0.14.18"
fi
PY="$VENV/bin/python"
cmake --build "$build" --target stemflow stemflow-sim bench_bragg_cpu -j"$cores" > /dev/null
exe="$build/pipeline/stemflow"
sim="$build/sim/stemflow-sim"
op_bench="$build/bench/bragg_cpu/bench_bragg_cpu"
p4="$ROOT/bench/bragg_cpu/py4dstem_bench.py"
# py4DSTEM's defaults (find_Bragg_disks 0.14.18), for the two tools that take them as options.
defaults=(--edge-boundary 20 --min-peak-spacing 60 --subpixel poly)

num() { awk -v x="$1" 'BEGIN { printf (x >= 100 ? "%.0f" : "%.3g"), x }'; }

echo "bench/seed: $(date -u +%Y-%m-%dT%H:%MZ), $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), median of $RUNS runs"

# Data first (generation is not timed), then the load check, then the timed work.
for set in $SETS; do
  case $set in
    128) scan=96x96 frame=128x128 ;;
    256) scan=48x48 frame=256x256 ;;
    512) scan=24x24 frame=512x512 ;;
    small) scan=20x50 frame=420x422 ;;
    large) scan=6x16 frame=1792x1920 ;;
    *) echo "bench/seed: unknown set $set" >&2; exit 2 ;;
  esac
  d="$tmp/$set"
  mkdir -p "$d"
  "$sim" synth --scan "$scan" --frame "$frame" --seed 3 --out "$d/data.npy" > /dev/null
  "$sim" synth --scan 1x8 --frame "$frame" --vacuum --out "$d/vacuum.npy" > /dev/null
  "$PY" - "$d" <<'P'
import sys, numpy as np
d = sys.argv[1]
for name in ("data", "vacuum"):
    a = np.load(f"{d}/{name}.npy", mmap_mode="r")
    np.ascontiguousarray(a.reshape(-1, a.shape[-2], a.shape[-1]), dtype=np.uint16).tofile(f"{d}/{name}_uint16.raw")
P
  "$PY" "$p4" template --dir "$d" --size "${frame}" > /dev/null
  "$PY" - "$d" "${frame%x*}" "${frame#*x}" <<'P'
import sys, numpy as np
d, r, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
np.save(f"{d}/template.npy", np.fromfile(f"{d}/template_float64.raw", dtype=np.float64).reshape(r, c))
P
  cat > "$d/run.toml" << T
[input]
source = "file"
path = "$d/data.npy"
[[operators]]
type = "bragg_disks"
name = "bragg"
template = "$d/template.npy"
subpixel = "poly"
[outputs.hdf5]
path = "$d/out.h5"
if_exists = "overwrite"
T
  cat "$d/data.npy" > /dev/null  # into the page cache
done

bench_load_begin
header="| frames | scan (frames) | py4DSTEM serial frames/s | operator only, $cores threads |"
rule="|---|---|---|---|"
for ((t = 1; t <= cores; ++t)); do header+=" stemflow $t thread(s) |"; rule+="---|"; done
header+=" speed-up $cores vs 1 | whole process / operator | x py4DSTEM | x py4DSTEM per core | projected full dataset |"
rule+="---|---|---|---|---|"
rows=()
for set in $SETS; do
  d="$tmp/$set"
  read -r R C < <("$PY" -c "import numpy as np; a = np.load('$d/data.npy', mmap_mode='r'); print(a.shape[-2], a.shape[-1])")
  n=$("$PY" -c "import numpy as np; a = np.load('$d/data.npy', mmap_mode='r'); print(a.shape[0] * a.shape[1])")
  p4_out=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    "$PY" "$p4" detect --dir "$d" --size "${R}x${C}" --frames "$n" "${defaults[@]}")
  p4_fps=$(sed -E 's/.* fps=([0-9.]+) .*/\1/' <<< "$p4_out")
  op_out=$("$op_bench" --data "$d/data_uint16.raw" --template "$d/template_float64.raw" --frames "$n" \
    --size "${R}x${C}" --threads "$cores" --min-seconds 2 --edge-boundary 20 --min-peak-spacing 60 --subpixel poly)
  op_fps=$(sed -E 's/.* fps=([0-9.]+) .*/\1/' <<< "$op_out")
  fps_t=() wall_t=()
  for ((t = 1; t <= cores; ++t)); do
    fs=() ws=()
    for ((r = 0; r < RUNS; ++r)); do
      t0=$(date +%s.%N)
      log=$("$exe" run "$d/run.toml" --set pipeline.threads="$t" 2>&1)
      t1=$(date +%s.%N)
      fs+=("$(bench_series_fps <<< "$log")")
      ws+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
    done
    fps_t+=("$(printf '%s\n' "${fs[@]}" | median)")
    wall_t+=("$(printf '%s\n' "${ws[@]}" | median)")
  done
  top=${fps_t[$((cores - 1))]}
  top_wall=${wall_t[$((cores - 1))]}
  case $set in
    small) full=10050 ;;  # 201 x 50
    large) full=46314 ;;  # 83 x 558
    *) full=0 ;;
  esac
  row="| ${R}x${C} | $n | $(num "$p4_fps") | $(num "$op_fps") |"
  for f in "${fps_t[@]}"; do row+=" $(num "$f") |"; done
  row+=$(awk -v a="$top" -v b="${fps_t[0]}" -v o="$op_fps" -v p="$p4_fps" -v c="$cores" \
    -v w="$top_wall" -v n="$n" -v full="$full" 'BEGIN {
      startup = w - n / a; if (startup < 0) startup = 0
      proj = "-"
      if (full > 0) { s = startup + full / a; proj = (s < 120) ? sprintf("%.1f s", s) : sprintf("%.1f min", s / 60) }
      printf " %.2fx | %.0f %% | %.1fx | %.1fx | %s |", a / b, 100 * a / o, a / p, a / p / c, proj }')
  rows+=("$row")
  echo "$set done: py4DSTEM $p4_fps, operator $op_fps, stemflow ${fps_t[*]} frames/s" >&2
done
echo
echo "$header"
echo "$rule"
printf '%s\n' "${rows[@]}"
echo
echo "projected: the whole command's start-up + the full dataset's frames (10,050 and 46,314) at the"
echo "engine's rate with $cores threads; the paper: 10 min serial and 2 min on a 32-core node (420x422),"
echo "~15 min on 4 nodes of 32 cores (1792x1920)."
bench_load_end
