# SPDX-License-Identifier: GPL-3.0-or-later
"""A random 4-D scan for the independent-peer tests, and numpy's results on it.

usage: make_scan.py SCAN.npy RX RY H W DTYPE SEED R0 R1 C0 C1
Writes SCAN.npy (Rx, Ry, H, W) of DTYPE (uint8, uint16, uint32 or float32): Poisson counts with a
bright disc and each dtype's largest value at pixel (0, 0) of frame 0, and SCAN.npy.json with numpy's
per-frame sums ("all") and sums over rows [R0, R1) x columns [C0, C1) ("rect"), in float64, C order
of the scan.
"""
import json
import sys

import numpy as np


def main():
    path = sys.argv[1]
    rx, ry, h, w = (int(v) for v in sys.argv[2:6])
    dtype = np.dtype(sys.argv[6])
    rng = np.random.default_rng(int(sys.argv[7]))
    r0, r1, c0, c1 = (int(v) for v in sys.argv[8:12])
    top = 1000.0 if dtype.kind == "f" else float(min(np.iinfo(dtype).max, 2**24))
    scan = rng.poisson(2.0, size=(rx, ry, h, w)).astype(np.float64)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h * 0.45) ** 2 + (xx - w * 0.55) ** 2 < (min(h, w) * 0.2) ** 2
    scan[:, :, disc] += rng.uniform(0, top / 4, size=(rx, ry))[..., None].round()
    if dtype.kind == "f":
        scan += rng.uniform(0, 1, size=scan.shape)  # not integers: float32 frames round
    scan = np.minimum(scan, top)
    scan[0, 0, 0, 0] = top
    scan = scan.astype(dtype)
    np.save(path, scan)
    frames = scan.astype(np.float64)
    with open(path + ".json", "w") as f:
        json.dump({"all": frames.sum(axis=(2, 3)).ravel().tolist(),
                   "rect": frames[:, :, r0:r1, c0:c1].sum(axis=(2, 3)).ravel().tolist()}, f)


if __name__ == "__main__":
    main()
