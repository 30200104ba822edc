#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic 4D-STEM frames of the reference generator (shared/reference/README.md, "Generator").

Each frame is a sum of disks A / (1 + exp(4 (r - R) / w)) (R = 0.035 Q, w = Q / 128) on a diffuse
background 0.3 + 3 exp(-r / (0.25 Q)), with Poisson noise, clipped to uint16. The central disk has
1200 counts per pixel; Bragg disks sit on the lattice g1 = (0.14, 0.02) Q, g2 = (-0.04, 0.13) Q
(|g| < 0.44 Q: 32 Bragg disks + the central disk), amplitude 250 sf exp(-|g| / (0.35 Q))
(1 + 0.25 sin(...)) with a fixed random weight sf in [0.35, 1] per +-(h, k) pair. Across the scan the
lattice is strained by linear ramps (exx +-1 % along rx, eyy +-0.75 % along ry, shear 1 %, rotation 1
degree along ry; the reciprocal lattice uses the inverse transpose) and the origin drifts by
(0.8, -0.6) px.

Writes <out>/data_uint16.raw (frames, Q, Q), <out>/vacuum_uint16.raw (16 probe-only frames) and
<out>/meta.txt. Disks are evaluated in a window around their centre (the logistic edge is below
1e-9 of the amplitude beyond it), which keeps large frame counts fast.
"""
import argparse
import os

import numpy as np


def lattice(Q):
    g1 = np.array([0.14, 0.02]) * Q
    g2 = np.array([-0.04, 0.13]) * Q
    hk = []
    for h in range(-6, 7):
        for k in range(-6, 7):
            if (h, k) == (0, 0):
                continue
            g = h * g1 + k * g2
            if np.hypot(*g) < 0.44 * Q:
                hk.append((h, k))
    return g1, g2, hk


def add_disk(frame, x0, y0, amp, R, w):
    Q = frame.shape[0]
    half = int(np.ceil(R + 6 * w)) + 1
    i0, i1 = max(int(x0) - half, 0), min(int(x0) + half + 2, Q)
    j0, j1 = max(int(y0) - half, 0), min(int(y0) + half + 2, Q)
    if i0 >= i1 or j0 >= j1:
        return
    ii = np.arange(i0, i1)[:, None]
    jj = np.arange(j0, j1)[None, :]
    r = np.sqrt((ii - x0) ** 2 + (jj - y0) ** 2)
    frame[i0:i1, j0:j1] += amp / (1 + np.exp(4 * (r - R) / w))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    Q, n = a.size, a.frames
    seed = 100 + Q if a.seed is None else a.seed
    rng = np.random.default_rng(seed)
    os.makedirs(a.out, exist_ok=True)

    R, w = 0.035 * Q, Q / 128
    g1, g2, hk = lattice(Q)
    sf = {}
    for h, k in hk:
        key = (h, k) if (h, k) > (-h, -k) else (-h, -k)
        if key not in sf:
            sf[key] = rng.uniform(0.35, 1.0)
    phase = {hk_: rng.uniform(0, 2 * np.pi) for hk_ in hk}
    origin0 = np.array([Q / 2 + 0.3, Q / 2 - 0.2])
    drift = np.array([0.8, -0.6])

    # a near-square scan of n positions
    ry_n = int(np.ceil(np.sqrt(n)))
    rx_n = int(np.ceil(n / ry_n))
    ii = np.arange(Q)[:, None]
    jj = np.arange(Q)[None, :]
    data = np.empty((n, Q, Q), dtype=np.uint16)
    for f in range(n):
        rx, ry = divmod(f, ry_n)
        tx = rx / max(rx_n - 1, 1) - 0.5
        ty = ry / max(ry_n - 1, 1) - 0.5
        exx, eyy, exy = 0.02 * tx, 0.015 * ty, 0.01 * tx
        th = np.deg2rad(1.0) * ty
        rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        D = rot @ np.array([[1 + exx, exy], [exy, 1 + eyy]])
        Dit = np.linalg.inv(D).T
        o = origin0 + drift * (0.5 * (tx + ty))
        r0 = np.sqrt((ii - o[0]) ** 2 + (jj - o[1]) ** 2)
        frame = 0.3 + 3.0 * np.exp(-r0 / (0.25 * Q))
        add_disk(frame, o[0], o[1], 1200.0, R, w)
        for h, k in hk:
            g = Dit @ (h * g1 + k * g2)
            key = (h, k) if (h, k) > (-h, -k) else (-h, -k)
            amp = 250 * sf[key] * np.exp(-np.hypot(*g) / (0.35 * Q))
            amp *= 1 + 0.25 * np.sin(2 * np.pi * (h * tx + k * ty) + phase[(h, k)])
            add_disk(frame, o[0] + g[0], o[1] + g[1], amp, R, w)
        data[f] = np.clip(rng.poisson(frame), 0, 65535)
    data.tofile(os.path.join(a.out, "data_uint16.raw"))

    vac = np.empty((16, Q, Q), dtype=np.uint16)
    for f in range(16):
        frame = np.zeros((Q, Q))
        add_disk(frame, origin0[0], origin0[1], 1200.0, R, w)
        vac[f] = np.clip(rng.poisson(frame), 0, 65535)
    vac.tofile(os.path.join(a.out, "vacuum_uint16.raw"))
    with open(os.path.join(a.out, "meta.txt"), "w") as fh:
        fh.write(f"size {Q}\nframes {n}\nseed {seed}\nscan {rx_n} {ry_n}\ndisks {len(hk) + 1}\n")


if __name__ == "__main__":
    main()
