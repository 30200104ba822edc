#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compares two peak CSVs (frame, i, qx, qy, intensity) over the frames of the first one: frames with
the same peak count, and the largest position difference of peaks matched nearest-first (< 0.5 px)."""
import sys
from collections import defaultdict

import numpy as np


def load(path):
    d = defaultdict(list)
    with open(path) as fh:
        next(fh)
        for line in fh:
            f, _, x, y, _ = line.split(",")
            d[int(f)].append((float(x), float(y)))
    return d


def main():
    ref, ours = load(sys.argv[1]), load(sys.argv[2])
    n = int(sys.argv[3])
    same, worst = 0, 0.0
    for f in range(n):
        a, b = np.array(ref.get(f, [])), np.array(ours.get(f, []))
        if len(a) == len(b):
            same += 1
        if len(a) and len(b):
            dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
            m = dist.min(axis=1)
            m = m[m < 0.5]
            if len(m):
                worst = max(worst, float(m.max()))
    print(f"{same}/{n} {worst:.2e}")


if __name__ == "__main__":
    main()
