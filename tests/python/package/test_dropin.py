# SPDX-License-Identifier: GPL-3.0-or-later
"""stemflow.find_bragg_disks, the drop-in for py4DSTEM 0.14.18's DataCube.find_Bragg_disks."""
import inspect
import sys

import numpy as np
import pytest

import stemflow
from conftest import REF128, simulate


def read_reference_peaks(path):
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    out = {}
    for rx, ry, _, qx, qy, inten in rows:
        out.setdefault((int(rx), int(ry)), []).append((qx, qy, inten))
    return out


def test_defaults_are_py4dstems():
    # Spec: the keyword names and defaults are those of py4DSTEM's DataCube.find_Bragg_disks.
    py4DSTEM = pytest.importorskip("py4DSTEM")
    theirs = inspect.signature(py4DSTEM.DataCube.find_Bragg_disks).parameters
    ours = inspect.signature(stemflow.find_bragg_disks).parameters
    for name, p in theirs.items():
        if name in ("self", "data", "template"):
            continue
        assert name in ours, name
        assert ours[name].default == p.default, name


def test_matches_py4dstem_reference(ref128):
    # Spec: on the shared reference scan (32x32 of 128x128, py4DSTEM's own peaks, multicorr, the
    # reference's keywords: meta.json), every frame's peaks in py4DSTEM's order to 1e-9 px.
    data, template = ref128
    bv = stemflow.find_bragg_disks(data, template, edgeBoundary=4, minPeakSpacing=9)
    ref = read_reference_peaks(REF128 / "peaks_multicorr.csv")
    assert type(bv).__name__ == "BraggVectors" and bv.Rshape == (32, 32)
    for rx in range(32):
        for ry in range(32):
            got = bv.raw[rx, ry].data
            want = np.array(ref.get((rx, ry), []), dtype=np.float64).reshape(-1, 3)
            assert got.size == len(want), (rx, ry)
            np.testing.assert_allclose(got["qx"], want[:, 0], atol=1e-9)
            np.testing.assert_allclose(got["qy"], want[:, 1], atol=1e-9)
            np.testing.assert_allclose(got["intensity"], want[:, 2], rtol=1e-9)


def test_matches_py4dstem_live_with_keywords(ref128):
    # Spec: the same call on py4DSTEM in this process (a 2x3 corner, non-default keywords) gives
    # the same BraggVectors.
    py4DSTEM = pytest.importorskip("py4DSTEM")
    data, template = ref128
    sub = np.ascontiguousarray(data[:2, :3])
    kw = dict(corrPower=0.8, sigma=1.5, subpixel="poly", minPeakSpacing=10, maxNumPeaks=30,
              edgeBoundary=6, minRelativeIntensity=0.01)
    theirs = py4DSTEM.DataCube(data=sub).find_Bragg_disks(template.astype(np.float64), **kw)
    ours = stemflow.find_bragg_disks(py4DSTEM.DataCube(data=sub), template, **kw)
    for rx in range(2):
        for ry in range(3):
            a, b = theirs.raw[rx, ry].data, ours.raw[rx, ry].data
            assert a.size == b.size > 0
            for f in ("qx", "qy", "intensity"):
                np.testing.assert_allclose(b[f], a[f], rtol=1e-9, atol=1e-9)


def test_bad_input(ref128):
    # Spec: wrong ndim / dtype / template shape -> ValueError / TypeError naming what was
    # expected; an unknown keyword -> TypeError naming it.
    data, template = ref128
    with pytest.raises(ValueError, match=r"template: expected .*\(128, 128\)"):
        stemflow.find_bragg_disks(data[:1, :1], template[:64])
    with pytest.raises(ValueError, match="4-D"):
        stemflow.find_bragg_disks(data[0], template)
    with pytest.raises(TypeError, match="uint8, uint16"):
        stemflow.find_bragg_disks(data[:1, :1].astype(np.int32), template)
    with pytest.raises(TypeError, match="minPeakSpacnig"):
        stemflow.find_bragg_disks(data[:1, :1], template, minPeakSpacnig=5)
    with pytest.raises(ValueError, match="subpixel"):
        stemflow.find_bragg_disks(data[:1, :1], template, subpixel="gauss")
    with pytest.raises(NotImplementedError, match="radial_bksb"):
        stemflow.find_bragg_disks(data[:1, :1], template, radial_bksb=True)


def test_without_py4dstem_returns_braggpeaks(monkeypatch):
    # Spec: without py4DSTEM importable, a stemflow.BraggPeaks with .peaks(rx, ry).
    monkeypatch.setitem(sys.modules, "py4DSTEM", None)
    data = simulate(rx=3, ry=2, q=32)
    bp = stemflow.find_bragg_disks(data, None, edgeBoundary=2, minPeakSpacing=4)
    assert isinstance(bp, stemflow.BraggPeaks) and bp.Rshape == (3, 2)
    p = bp.peaks(1, 1)
    assert p.dtype.names == ("qx", "qy", "intensity") and p.size > 0
    assert np.all(np.diff(p["intensity"]) <= 0)  # py4DSTEM's order: brightest first
    assert stemflow.find_bragg_disks(data, None, returncalc=False) is None
