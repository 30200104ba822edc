#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Bragg disk detection on the CPU: py4DSTEM 0.14.18 (serial, its real DataCube.find_Bragg_disks path)
# against stemflow's BraggDisksOp (all cores, float32 default) on the same synthetic frames, with the
# same template and parameters (docs/py4dstem.md section 5). Prints one table.
#
# Usage: bench/bragg_cpu/run.sh            (BUILD=<cmake build dir>, default build-bragg, else build)
# Needs: a configured build directory (the script builds bench_bragg_cpu), python3 with venv, and
# PyPI access the first time (py4dstem==0.14.18 into .venv-bench, git-ignored).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-}
if [[ -z "$BUILD" ]]; then
  if [[ -d "$ROOT/build-bragg" ]]; then BUILD="$ROOT/build-bragg"; else BUILD="$ROOT/build"; fi
fi
VENV=${VENV:-$ROOT/.venv-bench}
DATA="$BUILD/bench_data"
HERE="$ROOT/bench/bragg_cpu"
MIN_SECONDS=${MIN_SECONDS:-3}
REPEAT=${REPEAT:-2}  # each side runs REPEAT times; the best rates are kept (the VM is noisy)

# 1. py4DSTEM from PyPI, in a git-ignored virtual environment.
if ! "$VENV/bin/python" -c "import py4DSTEM" 2>/dev/null; then
  echo "run.sh: creating $VENV with py4dstem==0.14.18" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "numpy<2" "py4dstem==0.14.18"
fi
PY="$VENV/bin/python"

# 2. the stemflow benchmark binary.
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTEMFLOW_CUDA=OFF >/dev/null
fi
cmake --build "$BUILD" --target bench_bragg_cpu -j2 >/dev/null
BENCH="$BUILD/bench/bragg_cpu/bench_bragg_cpu"

CORES=$(nproc --all)
# py4DSTEM runs serially: numpy's BLAS (used by multicorr's matrix products) on one thread too.
PYENV=(env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)

frames_for() {  # size -> frames generated (= py4DSTEM poly frames)
  case $1 in 128) echo 1024 ;; 256) echo 400 ;; 512) echo 144 ;; esac
}
mc_frames_for() {  # size -> frames py4DSTEM multicorr runs (it is slow)
  case $1 in 128) echo 128 ;; 256) echo 48 ;; 512) echo 16 ;; esac
}
best() { python3 -c "print(max($1, $2))"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }  # value of key=value (key may start with a space)

echo "machine: $CORES cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(date -u +%Y-%m-%d)"
echo "py4DSTEM $("$PY" -c 'import py4DSTEM; print(py4DSTEM.__version__)'), numpy $("$PY" -c 'import numpy; print(numpy.__version__)') (serial); stemflow float32, $CORES threads"
echo "wall fps: frames / elapsed seconds (py4DSTEM serial, stemflow on all $CORES cores); /CPU-s: frames per CPU"
echo "second of the process (per core: what a frame costs, whatever else runs on the machine); best of $REPEAT"
echo "runs each; load: 1-min load average before the row (other work on the machine lowers the rates)."
echo
printf "| %-7s | %-9s | %-17s | %-12s | %-6s | %-15s | %-15s | %-9s | %-5s | %-20s |\n" \
  "frame" "subpixel" "py4DSTEM fps (n)" "stemflow fps" "ratio" "py4DSTEM /CPU-s" "stemflow /CPU-s" "ratio/CPU" "load" "counts same, max dpos"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" "---------" "-----------" "-------------------" "--------------" \
  "--------" "-----------------" "-----------------" "-----------" "-------" "----------------------"
for Q in 128 256 512; do
  n=$(frames_for $Q)
  dir="$DATA/q$Q"
  if [[ ! -f "$dir/data_uint16.raw" ]] || [[ "$(sed -n 's/^frames //p' "$dir/meta.txt" 2>/dev/null)" != "$n" ]]; then
    "$PY" "$HERE/gen_frames.py" --size $Q --frames $n --out "$dir"
  fi
  [[ -f "$dir/template_float64.raw" ]] || "$PY" "$HERE/py4dstem_bench.py" template --dir "$dir" --size $Q >/dev/null
  eb=$((Q / 32))
  sp=$((9 * Q / 128))
  for sub in poly multicorr; do
    pn=$n
    [[ $sub == multicorr ]] && pn=$(mc_frames_for $Q)
    load=$(cut -d' ' -f1 /proc/loadavg)
    py_fps=0; sf_fps=0; py_cpu=0; sf_cpu=0
    for ((rep = 0; rep < REPEAT; ++rep)); do
      py_out=$("${PYENV[@]}" "$PY" "$HERE/py4dstem_bench.py" detect --dir "$dir" --size $Q --frames $pn \
        --subpixel $sub --edge-boundary $eb --min-peak-spacing $sp --peaks-out "$dir/py_peaks_$sub.csv")
      sf_out=$("$BENCH" --data "$dir/data_uint16.raw" --template "$dir/template_float64.raw" --frames $n \
        --size $Q --subpixel $sub --edge-boundary $eb --min-peak-spacing $sp --sigma 2 \
        --min-relative-intensity 0.005 --max-num-peaks 70 --upsample-factor 16 \
        --threads "$CORES" --min-seconds "$MIN_SECONDS" --peaks-out "$dir/sf_peaks_$sub.csv")
      py_fps=$(best "$py_fps" "$(echo "$py_out" | field " fps")")
      sf_fps=$(best "$sf_fps" "$(echo "$sf_out" | field " fps")")
      py_cpu=$(best "$py_cpu" "$(echo "$py_out" | field fps_per_cpu_second)")
      sf_cpu=$(best "$sf_cpu" "$(echo "$sf_out" | field fps_per_cpu_second)")
    done
    agree=$("$PY" "$HERE/compare.py" "$dir/py_peaks_$sub.csv" "$dir/sf_peaks_$sub.csv" $pn)
    ratio=$(python3 -c "print(f'{$sf_fps / $py_fps:.1f}x')")
    ratio_cpu=$(python3 -c "print(f'{$sf_cpu / $py_cpu:.1f}x')")
    printf "| %-7s | %-9s | %-17s | %-12s | %-6s | %-15s | %-15s | %-9s | %-5s | %-20s |\n" "${Q}^2" $sub \
      "$py_fps ($pn)" "$sf_fps" "$ratio" "$py_cpu" "$sf_cpu" "$ratio_cpu" "$load" "$agree"
  done
done
