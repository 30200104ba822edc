#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""py4DSTEM 0.14.18 side of the Bragg disk benchmark.

  template: Probe.from_vacuum_data(vacuum stack) -> get_probe_size -> get_kernel('sigmoid',
            origin, radii=(alpha, 2 alpha)); written as float64 for stemflow to use the same kernel.
  detect:   DataCube(data).find_Bragg_disks(template, **params) on --frames frames from --first,
            serially (the real CPU path, _find_Bragg_disks_CPU), timed as a whole; prints fps and
            writes the peaks of every frame (global frame numbers). Before the timed call, one untimed
            call on the first --warmup frames of the range in the same process (imports, scipy's FFT
            caches, first-call costs), as stemflow's side has an untimed warm-up pass.
            --ready-file/--go-file: after the warm-up, create the ready file and wait for the go file,
            so that run.sh starts the timed calls of one process per core together. t_start/t_end
            are time.monotonic() (CLOCK_MONOTONIC, the same clock in every process), from which
            run.sh takes the parallel row's wall time: first start to last end.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["template", "detect"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--size", required=True, help="Q (square frames) or RxC")
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--ready-file", default="")
    ap.add_argument("--go-file", default="")
    ap.add_argument("--subpixel", default="poly")
    ap.add_argument("--edge-boundary", type=int, default=4)
    ap.add_argument("--min-peak-spacing", type=float, default=9)
    ap.add_argument("--counts-out", default="")
    ap.add_argument("--peaks-out", default="")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    import py4DSTEM

    R, _, C = a.size.partition("x")
    R = int(R)
    C = int(C) if C else R
    if a.mode == "template":
        vac = np.fromfile(os.path.join(a.dir, "vacuum_uint16.raw"), dtype=np.uint16).reshape(-1, R, C)
        probe = py4DSTEM.braggvectors.Probe.from_vacuum_data(vac)
        alpha, qx0, qy0 = py4DSTEM.process.calibration.get_probe_size(probe.probe)
        kern = probe.get_kernel(mode="sigmoid", origin=(qx0, qy0), radii=(alpha, 2 * alpha))
        np.asarray(kern, dtype=np.float64).tofile(os.path.join(a.dir, "template_float64.raw"))
        print(f"alpha={alpha} qx0={qx0} qy0={qy0}")
        return

    data = np.fromfile(os.path.join(a.dir, "data_uint16.raw"), dtype=np.uint16).reshape(-1, R, C)
    first = a.first
    n = a.frames if a.frames > 0 else data.shape[0] - first
    if first < 0 or n <= 0 or first + n > data.shape[0]:
        sys.exit(f"py4dstem_bench: frames {first}..{first + n} outside the {data.shape[0]} generated")
    data = np.ascontiguousarray(data[first:first + n]).reshape(1, n, R, C)
    template = np.fromfile(os.path.join(a.dir, "template_float64.raw"), dtype=np.float64).reshape(R, C)
    dc = py4DSTEM.DataCube(data=data)
    params = dict(
        corrPower=1.0, sigma=2, sigma_dp=0, edgeBoundary=a.edge_boundary,
        minRelativeIntensity=0.005, relativeToPeak=0, minAbsoluteIntensity=0,
        minPeakSpacing=a.min_peak_spacing, maxNumPeaks=70, upsample_factor=16,
        subpixel=a.subpixel, filter_function=None, radial_bksb=False,
    )
    devnull = open(os.devnull, "w")
    stderr, sys.stderr = sys.stderr, devnull  # tqdm's progress bar
    w = min(a.warmup, n)
    if w > 0:  # untimed; its own DataCube, so that the timed call starts from the same state
        warm = py4DSTEM.DataCube(data=np.ascontiguousarray(data[:, :w]))
        warm.find_Bragg_disks(template=template, **params)
    if a.ready_file:
        open(a.ready_file, "w").close()
    while a.go_file and not os.path.exists(a.go_file):
        time.sleep(0.001)
    t0, c0 = time.monotonic(), time.process_time()
    bv = dc.find_Bragg_disks(template=template, **params)
    t1, cpu = time.monotonic(), time.process_time() - c0
    dt = t1 - t0
    sys.stderr = stderr
    counts = [bv.raw[0, i].data.shape[0] for i in range(n)]
    if a.peaks_out:
        with open(a.peaks_out, "w") as fh:
            fh.write("frame,i,qx,qy,intensity\n")
            for f in range(n):
                d = bv.raw[0, f].data
                for j in range(d.shape[0]):
                    fh.write(f"{first + f},{j},{d['qx'][j]!r},{d['qy'][j]!r},{d['intensity'][j]!r}\n")
    if a.counts_out:
        with open(a.counts_out, "w") as fh:
            fh.write("".join(f"{c}\n" for c in counts))
    print(f"frames={n} first={first} warmup={w} seconds={dt:.3f} fps={n / dt:.3f} "
          f"cpu_seconds={cpu:.3f} fps_per_cpu_second={n / cpu:.3f} mean_peaks={np.mean(counts):.3f} "
          f"t_start={t0:.6f} t_end={t1:.6f}")


if __name__ == "__main__":
    main()
