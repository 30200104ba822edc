# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/python: the stemflow package against py4DSTEM and against the command line.

  python bench.py dropin   DATA.npy TEMPLATE.npy   drop-in vs py4DSTEM find_Bragg_disks, same process
  python bench.py overhead CONFIG.toml DATA.npy CLI stemflow.run(config, data=memmap) vs `stemflow run`
  python bench.py memmap   CONFIG.toml DATA.npy CLI memmap input vs the command line's file replay
Prints one Markdown table row per measurement.
"""
import os
import re
import subprocess
import sys
import time

import numpy as np

import stemflow

REPEAT = int(os.environ.get("REPEAT", "5"))
# The reference scan's keywords (shared/reference/py4dstem-ref-128/meta.json).
PARAMS = dict(corrPower=1.0, sigma=2, edgeBoundary=4, minRelativeIntensity=0.005, minPeakSpacing=9,
              maxNumPeaks=70, upsample_factor=16)


def best(fn, repeat=REPEAT):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def compare(a, b, rows, cols):
    same, worst = 0, 0.0
    for rx in range(rows):
        for ry in range(cols):
            p, q = a.raw[rx, ry].data, b.raw[rx, ry].data
            if p.size == q.size:
                same += 1
                if p.size:
                    worst = max(worst, float(np.abs(p["qx"] - q["qx"]).max()),
                                float(np.abs(p["qy"] - q["qy"]).max()))
    return same, worst


def dropin(data_path, template_path):
    import py4DSTEM

    data = np.load(data_path)
    template = np.load(template_path)
    n_all = data.shape[0] * data.shape[1]
    print("| subpixel | precision | py4DSTEM frames | py4DSTEM frames/s | stemflow frames | "
          "stemflow frames/s | ratio | counts same, max position difference |")
    print("|---|---|---|---|---|---|---|---|")
    for subpixel, rows in (("poly", data.shape[0]), ("multicorr", 4)):
        sub = np.ascontiguousarray(data[:rows])
        n_py = sub.shape[0] * sub.shape[1]
        t_py, theirs = best(lambda: py4DSTEM.DataCube(data=sub).find_Bragg_disks(
            template, subpixel=subpixel, **PARAMS), repeat=1)
        for precision in ("f64", "f32"):
            t_sf, ours = best(lambda: stemflow.find_bragg_disks(
                data, template, subpixel=subpixel, precision=precision, **PARAMS))
            same, worst = compare(ours, theirs, rows, data.shape[1])
            fps_py, fps_sf = n_py / t_py, n_all / t_sf
            print(f"| {subpixel} | {precision} | {n_py} | {fps_py:,.1f} | {n_all} | {fps_sf:,.0f} | "
                  f"**{fps_sf / fps_py:.1f}x** | {same}/{n_py}, {worst:.1e} px |")


def cli_seconds(cli, config, extra=()):
    """Wall time of the whole `stemflow run` process, and the engine's frames/s line."""
    t = time.perf_counter()
    out = subprocess.run([cli, "run", config, *extra], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    m = re.search(r"([0-9.]+) s, ([0-9]+) frames/s", out.stdout + out.stderr)
    return wall, float(m.group(1)), float(m.group(2))


def overhead(config, data_path, cli):
    """The same configuration three ways, alternating, best of REPEAT each: the command line's
    whole process; stemflow.run(config) (the same file replay, through the Python layer);
    stemflow.run(config, data=memmap) (the memory source)."""
    mm = np.load(data_path, mmap_mode="r")
    n = mm.shape[0] * mm.shape[1]
    rows = []
    for _ in range(REPEAT):
        wall_cli, series_cli, _ = cli_seconds(cli, config)
        t = time.perf_counter()
        res = stemflow.run(config, progress=False)
        wall_replay = time.perf_counter() - t
        t = time.perf_counter()
        res_mm = stemflow.run(config, data=mm, progress=False)
        wall_mm = time.perf_counter() - t
        assert res.counts["processed"] == n and res_mm.counts["processed"] == n
        rows.append((wall_cli, series_cli, wall_replay, wall_mm))
    b = [min(r[i] for r in rows) for i in range(4)]
    print("| frames | `stemflow run` process s (its series s) | `stemflow.run(config)` s | vs process | "
          "`stemflow.run(config, data=memmap)` s | vs process |")
    print("|---|---|---|---|---|---|")
    print(f"| {n} | {b[0]:.3f} ({b[1]:.3f}) | {b[2]:.3f} | {100 * (b[2] / b[0] - 1):+.1f} % | "
          f"{b[3]:.3f} | {100 * (b[3] / b[0] - 1):+.1f} % |")


def memmap_rate(config, data_path, cli):
    mm = np.load(data_path, mmap_mode="r")
    n = mm.shape[0] * mm.shape[1]
    fps_cli, fps_py = [], []
    for _ in range(REPEAT):
        fps_cli.append(cli_seconds(cli, config)[2])
        run = stemflow.start(config, data=mm)
        res = run.wait()
        fps_py.append(run.progress()["fps"])
        assert res.counts["processed"] == n
    print("| frames | file replay (`stemflow run`) frames/s | memmap (`stemflow.run`) frames/s | "
          "memmap / replay |")
    print("|---|---|---|---|")
    print(f"| {n} | {max(fps_cli):,.0f} | {max(fps_py):,.0f} | {max(fps_py) / max(fps_cli):.2f} |")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "dropin":
        dropin(sys.argv[2], sys.argv[3])
    elif what == "overhead":
        overhead(sys.argv[2], sys.argv[3], sys.argv[4])
    elif what == "memmap":
        memmap_rate(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
