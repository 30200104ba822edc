#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The Python package's goals (issue 14), on this machine, with the build tree's module:
#   1. stemflow.find_bragg_disks vs py4DSTEM's serial DataCube.find_Bragg_disks, same process, same
#      array (the shared reference scan, 32x32 of 128x128 u16), stemflow on all cores (goal >= 10x);
#   2. the Python layer vs the command line on the same data and configuration (goal < 5 %);
#   3. a memmap input vs the command line's file replay of the same .npy (goal: the same rate).
# Usage: BUILD=build-dev bench/python/run.sh   (REPEAT=5: best of 5 each; the VM is noisy)
# Needs: the build with the module (STEMFLOW_PYTHON) and its test venv (py4DSTEM), ../shared.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/lib.sh"
BUILD=$(cd "${BUILD:-$ROOT/build}" && pwd)
PY="$BUILD/venv/bin/python"
CLI="$BUILD/pipeline/stemflow"
REF="${STEMFLOW_SHARED_DIR:-$ROOT/../shared}/reference/py4dstem-ref-128"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$BUILD/python"
cmake --build "$BUILD" --target _core stemflow -j2 >/dev/null
[[ -f "$REF/data_uint16.raw" ]] || { echo "run.sh: $REF is absent" >&2; exit 1; }

"$PY" - "$REF" "$WORK" <<'PYEOF'
import sys, numpy as np
ref, work = sys.argv[1], sys.argv[2]
d = np.fromfile(f"{ref}/data_uint16.raw", dtype="<u2").reshape(32, 32, 128, 128)
np.save(f"{work}/ref.npy", d)
np.save(f"{work}/template.npy", np.fromfile(f"{ref}/template_float32.raw", dtype="<f4").reshape(128, 128).astype(np.float64))
# 8192 frames (256 MiB) for the overhead and memmap rows: the reference scan tiled 8 times.
np.save(f"{work}/big.npy", np.tile(d, (4, 2, 1, 1)))
PYEOF
cat > "$WORK/bragg.toml" <<TOML
[input]
source = "file"
path = "$WORK/big.npy"
[[operators]]
type = "bragg_disks"
name = "bragg"
template = "$WORK/template.npy"
subpixel = "multicorr"
edge_boundary = 4
min_peak_spacing = 9
[[operators]]
type = "virtual_image"
name = "bf"
detector = "circle"
center = [64.2, 63.8]
radius = 6.5
TOML
cat > "$WORK/vimg.toml" <<TOML
[input]
source = "file"
path = "$WORK/big.npy"
[[operators]]
type = "virtual_image"
name = "bf"
detector = "circle"
center = [64.2, 63.8]
radius = 6.5
[[operators]]
type = "virtual_image"
name = "adf"
detector = "annulus"
center = [64.2, 63.8]
radii = [9.0, 27.0]
TOML

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(date -u +%Y-%m-%dT%H:%MZ); commit $(git -C "$ROOT" rev-parse --short HEAD)"
bench_load_begin
echo
echo "1. drop-in vs py4DSTEM (serial: OPENBLAS_NUM_THREADS=1), wall time of the whole call"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  "$PY" "$ROOT/bench/python/bench.py" dropin "$WORK/ref.npy" "$WORK/template.npy"
echo
echo "2. Python layer vs command line: Bragg multicorr (f32) + a virtual detector, 8192 frames"
"$PY" "$ROOT/bench/python/bench.py" overhead "$WORK/bragg.toml" "$WORK/big.npy" "$CLI"
echo
echo "3. memmap input vs file replay: two virtual detectors, 8192 frames, page cache warm"
"$PY" "$ROOT/bench/python/bench.py" memmap "$WORK/vimg.toml" "$WORK/big.npy" "$CLI"
echo
bench_load_end
