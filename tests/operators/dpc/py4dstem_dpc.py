# SPDX-License-Identifier: GPL-3.0-or-later
"""py4DSTEM 0.14.18's DPC on a synthetic centre-of-mass field with a known phase, rotation and
transpose, for tests/operators/dpc.

  py4dstem_dpc.py OUT_DIR ROWS COLS ROTATION_DEG TRANSPOSE(0|1) SEED

Writes to OUT_DIR (float64, row-major, ROWS x COLS): com_x.raw, com_y.raw (the measured CoM, detector
px: the phase gradient rotated into the detector frame, plus a descan plane and a little noise),
truth.raw (the phase), phase.raw (py4DSTEM's reconstruct() with its defaults) and rotation.txt
(py4DSTEM's rotation in degrees and transpose 0/1).
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import py4DSTEM  # noqa: E402


def main():
    out = sys.argv[1]
    rows, cols = int(sys.argv[2]), int(sys.argv[3])
    theta = np.deg2rad(float(sys.argv[4]))
    transpose = sys.argv[5] == "1"
    rng = np.random.default_rng(int(sys.argv[6]))
    os.makedirs(out, exist_ok=True)
    rx, ry = np.meshgrid(np.arange(rows, dtype=float), np.arange(cols, dtype=float), indexing="ij")
    phi = np.zeros((rows, cols))
    gx = np.zeros((rows, cols))
    gy = np.zeros((rows, cols))
    for _ in range(6):  # Gaussian bumps: phase, and its gradient exactly
        a, cx, cy, s = rng.uniform(-3, 3), rng.uniform(0, rows), rng.uniform(0, cols), rng.uniform(2, 5)
        b = a * np.exp(-((rx - cx) ** 2 + (ry - cy) ** 2) / (2 * s * s))
        phi += b
        gx += -b * (rx - cx) / (s * s)
        gy += -b * (ry - cy) / (s * s)
    c, s = np.cos(theta), np.sin(theta)
    u = c * gx + s * gy  # R(-theta) g: rotating it by theta gives g back
    v = -s * gx + c * gy
    nx, ny = (v, u) if transpose else (u, v)
    nx = nx + 64.2 + 0.02 * rx - 0.01 * ry + rng.normal(0, 0.002, nx.shape)
    ny = ny + 63.7 - 0.015 * rx + 0.01 * ry + rng.normal(0, 0.002, ny.shape)
    nx.astype(np.float64).tofile(os.path.join(out, "com_x.raw"))
    ny.astype(np.float64).tofile(os.path.join(out, "com_y.raw"))
    phi.astype(np.float64).tofile(os.path.join(out, "truth.raw"))
    dpc = py4DSTEM.process.phase.DPC(verbose=False)
    dpc.preprocess(force_com_measured=[nx, ny], plot_rotation=False, plot_center_of_mass=False)
    dpc.reconstruct(progress_bar=False)
    np.asarray(dpc.object_phase, dtype=np.float64).tofile(os.path.join(out, "phase.raw"))
    with open(os.path.join(out, "rotation.txt"), "w") as f:
        f.write(f"{np.rad2deg(float(dpc._rotation_best_rad))!r} {int(dpc._rotation_best_transpose)}\n")


if __name__ == "__main__":
    main()
