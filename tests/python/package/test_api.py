# SPDX-License-Identifier: GPL-3.0-or-later
"""stemflow.run / start / Results: the contract the issue names (python/stemflow/_api.py)."""
import _thread
import pathlib
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import stemflow
from conftest import BF, bf_numpy, simulate


def test_version():
    # Spec: stemflow.__version__ is the project version (CMakeLists.txt project()).
    root = pathlib.Path(__file__).parents[3]
    text = (root / "CMakeLists.txt").read_text()
    assert f"project(stemflow VERSION {stemflow.__version__} " in text


def test_run_dict_config_matches_numpy(small):
    # Spec: run(config dict, data=array) returns Results with the maps, names, coverage, counts.
    res = stemflow.run({"operators": [BF, {"type": "mean_pattern", "name": "mean"}]}, data=small,
                       progress=False)
    assert set(res.names) == {"bf", "mean"}
    np.testing.assert_array_equal(res["bf"], bf_numpy(small))
    np.testing.assert_allclose(res["mean"], small.astype(np.float64).mean(axis=(0, 1)), rtol=1e-12)
    assert res.coverage.shape == (8, 6) and res.coverage.all()
    assert res.counts["received"] == 48 and res.counts["processed"] == 48
    assert res.counts["dropped"] == {} and res.counts["end"] == "end_of_file"
    assert res.path is None


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.float32])
def test_dtypes(dtype):
    # Spec: u8/u16/u32/f32 arrays are accepted as they are.
    data = simulate(dtype=dtype)
    res = stemflow.run({"operators": [BF]}, data=data, progress=False)
    np.testing.assert_allclose(res["bf"], bf_numpy(data), rtol=1e-6)


def test_strided_view_gives_the_same(small):
    # Edge case: a non-contiguous view (every other scan row, frames transposed) is gathered
    # frame by frame, never copied whole; the results are those of the same frames made contiguous.
    view = small[::2].transpose(0, 1, 3, 2)
    res = stemflow.run({"operators": [BF]}, data=view, progress=False)
    np.testing.assert_array_equal(res["bf"], bf_numpy(np.ascontiguousarray(view)))


def test_toml_file_hdf5_and_set(small, tmp_path):
    # Spec: config as a TOML path, `set` overrides as --set, .path is the HDF5 file written.
    cfg = tmp_path / "a.toml"
    cfg.write_text(
        '[outputs.hdf5]\npath = "' + str(tmp_path / "out.h5") + '"\n'
        '[[operators]]\ntype = "virtual_image"\nname = "bf"\ndetector = "circle"\n'
        'center = [16, 16]\nradius = 2\n')
    res = stemflow.run(cfg, data=small, set={"operators.bf.radius": 4}, progress=False)
    assert res.path == str(tmp_path / "out.h5") and pathlib.Path(res.path).exists()
    np.testing.assert_array_equal(res["bf"], bf_numpy(small))  # radius 4 from `set`
    # The file of an array input opens in py4DSTEM like any other.
    py4DSTEM = pytest.importorskip("py4DSTEM")
    root = py4DSTEM.read(res.path)
    np.testing.assert_array_equal(root.tree("bf").data, res["bf"])


def test_config_error_names_key_and_line(small, tmp_path):
    # Spec: a bad configuration raises stemflow.ConfigError with the key and, for a file, the line.
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[pipeline]\nthreads = 1\nbatch_frames = -5\n')
    with pytest.raises(stemflow.ConfigError) as e:
        stemflow.run(cfg, data=small, progress=False)
    assert "bad.toml:3" in str(e.value) and "batch_frames" in str(e.value)
    with pytest.raises(stemflow.ConfigError, match="radius"):
        stemflow.run({"operators": [dict(BF, radius=-1)]}, data=small, progress=False)
    with pytest.raises(stemflow.ConfigError, match="no_such_key"):
        stemflow.run({"pipeline": {"no_such_key": 1}}, data=small, progress=False)


def test_memory_source_needs_python(small, tmp_path):
    # Edge case: input.source = "memory" without data (a file used from the command line) is a
    # configuration error naming the key, not a crash.
    with pytest.raises(stemflow.ConfigError, match="input.source|memory"):
        stemflow.run({"input": {"source": "memory"}}, progress=False)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.zeros((4, 4, 8), np.uint16), ValueError, "4-D"),
        (np.zeros((2, 2, 8, 8), np.int16), TypeError, "uint8, uint16, uint32 or float32"),
        (np.zeros((2, 2, 8, 8), np.float64), TypeError, "float32"),
        (np.zeros((2, 2, 8, 8), ">u2"), TypeError, "byte order"),
        (np.zeros((0, 2, 8, 8), np.uint16), ValueError, "empty"),
        ("not an array", TypeError, "4-D numpy array"),
    ],
)
def test_bad_data(bad, exc, match):
    # Spec: wrong ndim/dtype raises ValueError/TypeError naming what was expected.
    with pytest.raises(exc, match=match):
        stemflow.run({"operators": [BF]}, data=bad, progress=False)


def big_scan():
    # Long enough (seconds on two cores) to be caught running.
    frame = simulate(rx=1, ry=1, q=128)[0, 0]
    return np.broadcast_to(frame, (48, 48, 128, 128))


BRAGG_SLOW = {"type": "bragg_disks", "name": "bragg", "template": "none", "precision": "f64",
              "subpixel": "multicorr", "upsample_factor": 64, "min_peak_spacing": 4}


def test_start_snapshot_stop():
    # Spec: start() returns at once; progress() and snapshot() (NaN where no frame yet) while it
    # runs; stop() drains and the partial results are kept.
    data = big_scan()
    run = stemflow.start({"pipeline": {"threads": 1, "batch_frames": 8},
                          "operators": [dict(BF, center=[64, 64]), BRAGG_SLOW]}, data=data)
    deadline = time.time() + 60
    while run.progress()["processed"] < 16 and time.time() < deadline:
        time.sleep(0.01)
    p = run.progress()
    assert p["frames"] == 48 * 48 and 0 < p["processed"] < 48 * 48 and not p["done"]
    snap = run.snapshot("bf")
    assert snap.shape == (48, 48) and np.isnan(snap).any() and np.isfinite(snap).any()
    with pytest.raises(KeyError, match="bf"):
        run.snapshot("nope")
    run.stop()
    res = run.wait()
    assert res.counts["end"] == "interrupted"
    n = res.coverage.sum()
    assert 0 < n < 48 * 48 and n == res.counts["processed"]
    # What the snapshot showed is in the results, unchanged.
    seen = np.isfinite(snap)
    assert res.coverage[seen].all()
    np.testing.assert_array_equal(res["bf"][seen], snap[seen])
    assert np.isnan(res["bf"][~res.coverage]).all()
    final = run.snapshot("bf")
    np.testing.assert_array_equal(np.isfinite(final), res.coverage)


def test_wait_timeout_and_results(small):
    run = stemflow.start({"operators": [BF]}, data=small)
    res = run.wait(timeout=60)
    assert res is not None and res.counts["processed"] == 48
    assert run.wait() is res and run.progress()["done"]


def test_keyboard_interrupt_keeps_partial_results():
    # Spec: Ctrl-C during run() stops the engine cleanly; the partial results are returned.
    data = big_scan()
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = stemflow.run({"pipeline": {"threads": 1, "batch_frames": 8},
                            "operators": [dict(BF, center=[64, 64]), BRAGG_SLOW]},
                           data=data, progress=False)
    timer.join()
    assert res.interrupted and res.counts["end"] == "interrupted"
    assert 0 < res.coverage.sum() < 48 * 48
    assert any("interrupted" in str(x.message) for x in w)
    # The engine is gone and a new run works in the same interpreter.
    assert stemflow.run({"operators": [BF]}, data=simulate(), progress=False).coverage.all()


def test_engine_error_is_an_exception_not_an_abort(small):
    # Edge case: an array the configuration does not fit (frames larger than the pool, a template
    # of another frame shape: the engine refuses the series) is a ConfigError saying why, never a
    # crash of the interpreter.
    with pytest.raises(stemflow.ConfigError, match="memory_limit"):
        stemflow.run({"pipeline": {"memory_limit": "1MiB"}, "operators": [BF]},
                     data=np.zeros((2, 2, 512, 512), np.uint32), progress=False)
    tpl = pathlib.Path(__file__).parent / "tpl.npy"
    np.save(tpl, np.zeros((8, 8)))
    try:
        with pytest.raises(stemflow.ConfigError):
            stemflow.run({"operators": [{"type": "bragg_disks", "template": str(tpl)}]},
                         data=small, progress=False)
    finally:
        tpl.unlink()


def test_to_py4dstem_and_peaks(small):
    py4DSTEM = pytest.importorskip("py4DSTEM")
    res = stemflow.run({"operators": [BF, {"type": "mean_pattern", "name": "mean"},
                                      {"type": "bragg_disks", "name": "bragg", "template": "none",
                                       "edge_boundary": 2, "min_peak_spacing": 4}]},
                       data=small, progress=False)
    vi = res.to_py4dstem("bf")
    assert isinstance(vi, py4DSTEM.VirtualImage)
    np.testing.assert_array_equal(vi.data, res["bf"])
    assert isinstance(res.to_py4dstem("mean"), py4DSTEM.DiffractionSlice)
    bv = res.to_py4dstem("bragg")
    table = res["bragg"]
    assert table.size == res["bragg_count"].sum() > 0
    for rx, ry in [(0, 0), (3, 2), (7, 5)]:
        p = res.peaks("bragg", rx, ry)
        assert p.dtype.names == ("qx", "qy", "intensity")
        np.testing.assert_array_equal(bv.raw[rx, ry].data["qx"], p["qx"])
        np.testing.assert_array_equal(bv.raw[rx, ry].data["intensity"], p["intensity"])
        sel = table[(table["rx"] == rx) & (table["ry"] == ry)]
        np.testing.assert_array_equal(sel["qy"], p["qy"])
    with pytest.raises(IndexError):
        res.peaks("bragg", 8, 0)


def test_memmap_read_in_place(tmp_path):
    # Spec: a memmap is read in place, never copied whole: the process' anonymous memory grows by
    # far less than the file (file pages the engine reads are page cache, not copies).
    shape = (64, 64, 128, 128)  # 128 MiB of u16
    path = tmp_path / "scan.u16"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=shape)
    mm[:] = 3
    mm.flush()
    del mm
    code = f"""
import numpy as np, stemflow, json
def anon():
    for line in open('/proc/self/status'):
        if line.startswith('RssAnon:'):
            return int(line.split()[1]) * 1024
m = np.load({str(path)!r}, mmap_mode='r')
before = anon()
res = stemflow.run({{'pipeline': {{'memory_limit': '16MiB'}},
                    'operators': [{{'type': 'virtual_image', 'name': 'bf', 'detector': 'circle',
                                    'center': [64, 64], 'radius': 10}}]}}, data=m, progress=False)
print(json.dumps([anon() - before, float(res['bf'][0, 0]), int(res.coverage.sum())]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    grew, v, n = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    file_bytes = np.prod(shape) * 2
    yy, xx = np.mgrid[0:128, 0:128]
    inside = int(((yy - 64) ** 2 + (xx - 64) ** 2 < 100).sum())
    assert n == 64 * 64 and v == 3 * inside
    assert grew < file_bytes / 4, f"anonymous memory grew by {grew} bytes for a {file_bytes} file"


def test_results_file_error_is_an_exception(small):
    # Spec: every engine error becomes a Python exception: a results file that cannot be written
    # raises RuntimeError naming it; the in-memory results travel with the exception.
    with pytest.raises(RuntimeError, match="not written") as e:
        # (the sink makes missing directories; none can be made under /proc, even as root)
        stemflow.run({"outputs": {"hdf5": {"path": "/proc/stemflow-no-such-dir/out.h5"}},
                      "operators": [BF]}, data=small, progress=False)
    np.testing.assert_array_equal(e.value.results["bf"], bf_numpy(small))


def test_engine_runs_without_the_gil():
    # Spec: the engine runs with the GIL released: while this thread holds the GIL in a pure
    # Python loop for 0.5 s, frames are still processed.
    run = stemflow.start({"pipeline": {"threads": 1, "batch_frames": 8},
                          "operators": [dict(BF, center=[64, 64]), BRAGG_SLOW]}, data=big_scan())
    deadline = time.time() + 60
    while run.progress()["processed"] == 0 and time.time() < deadline:
        time.sleep(0.01)
    before = run.progress()["processed"]
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < 0.5:
        n += 1  # holds the GIL
    after = run.progress()["processed"]
    run.stop()
    run.wait()
    assert after > before, (before, after)
