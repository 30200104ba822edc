# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the stemflow package tests (run by ctest's python_package against the module built
in the build tree: PYTHONPATH=<build>/python)."""
import os
import pathlib

import numpy as np
import pytest

SHARED = pathlib.Path(os.environ.get("STEMFLOW_SHARED_DIR", pathlib.Path(__file__).parents[4] / "shared"))
REF128 = SHARED / "reference" / "py4dstem-ref-128"


def simulate(rx=8, ry=6, q=32, dtype=np.uint16, seed=1):
    """A small scan: a bright central disk and two Bragg disks, Poisson noise; frames differ."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:q, 0:q]
    data = np.empty((rx, ry, q, q), dtype=dtype)
    for i in range(rx):
        for j in range(ry):
            c = q / 2 + 0.3 * (i - rx / 2)
            f = 200.0 * ((xx - c) ** 2 + (yy - q / 2) ** 2 < 9)
            f += 50.0 * ((xx - c - 8) ** 2 + (yy - q / 2 - 5) ** 2 < 4) * (1 + j / ry)
            data[i, j] = rng.poisson(f + 1.0).astype(dtype)
    return data


@pytest.fixture
def small():
    return simulate()


@pytest.fixture
def ref128():
    if not (REF128 / "data_uint16.raw").exists():
        pytest.skip(f"{REF128} is absent (the shared py4DSTEM reference data): skipped")
    data = np.fromfile(REF128 / "data_uint16.raw", dtype="<u2").reshape(32, 32, 128, 128)
    template = np.fromfile(REF128 / "template_float32.raw", dtype="<f4").reshape(128, 128)
    return data, template


BF = {"type": "virtual_image", "name": "bf", "detector": "circle", "center": [16, 16], "radius": 4}


def bf_numpy(data):
    """The same circle detector in numpy (py4DSTEM's semantics: r^2 < R^2)."""
    q = data.shape[2]
    yy, xx = np.mgrid[0:q, 0:q]
    mask = (yy - 16) ** 2 + (xx - 16) ** 2 < 16
    return (data.astype(np.float64) * mask).sum(axis=(2, 3))
