# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line's progress line, and what pip install . builds (pyproject.toml)."""
import os
import pathlib
import pty
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[3]


def cli():
    path = os.environ.get("STEMFLOW_BIN")
    if not path or not pathlib.Path(path).exists():
        pytest.skip("STEMFLOW_BIN (the stemflow executable) is not set: run through ctest")
    return path


def replay_config(tmp_path, frames=(16, 16, 64, 64)):
    data = np.random.default_rng(0).poisson(3, frames).astype(np.uint16)
    np.save(tmp_path / "scan.npy", data)
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[input]\nsource = "file"\npath = "{tmp_path / "scan.npy"}"\nrate = 200\n'
        f'[scan]\nshape = [{frames[0]}, {frames[1]}]\n'
        '[[operators]]\ntype = "virtual_image"\nname = "bf"\ndetector = "circle"\n'
        'center = [32, 32]\nradius = 8\n')
    return cfg


PROGRESS = re.compile(r"series 1: \d+/256 frames \(\d+ %\), \d+ frames/s, ETA [-0-9:]+, dropped 0")


def test_no_progress_line_when_stderr_is_not_a_terminal(tmp_path):
    # Spec: stderr to a pipe or a file: no progress line.
    out = subprocess.run([cli(), "run", str(replay_config(tmp_path))], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not PROGRESS.search(out.stderr + out.stdout)
    assert "\r" not in out.stderr


def test_progress_line_on_a_terminal(tmp_path):
    # Spec: stderr on a terminal: a progress line (frames, frames/s, ETA, drops), repainted in
    # place, ending at 256/256.
    master, slave = pty.openpty()
    proc = subprocess.Popen([cli(), "run", str(replay_config(tmp_path))], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    proc.wait(timeout=120)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    lines = PROGRESS.findall(text)
    assert len(lines) >= 2, text  # paced at 200 frames/s, the scan lasts ~1.3 s: repainted
    assert "\r\x1b[K" in text
    assert "256/256 frames (100 %)" in text


def test_memory_source_refused_by_the_command_line(tmp_path):
    # Edge case: input.source = "memory" is the Python package's; the command line says so and
    # exits 2 (a configuration error) instead of waiting for frames.
    cfg = tmp_path / "m.toml"
    cfg.write_text('[input]\nsource = "memory"\n')
    out = subprocess.run([cli(), "run", str(cfg)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "input.source" in out.stdout + out.stderr and "stemflow.run(data=" in out.stdout + out.stderr


def test_pyproject_builds_what_cmake_builds():
    # Spec: pip install . builds this CMake tree with STEMFLOW_PYTHON=ON (no tests, benchmarks or
    # CUDA) and takes the version from CMakeLists.txt. The full pip build (4.5 min here with a
    # warm ccache, longer cold) is not run by make test; ctest builds the same module target
    # (python/CMakeLists.txt) that pip's CMake run builds, and these tests import it.
    tomllib = pytest.importorskip("tomllib")
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sk = py["tool"]["scikit-build"]
    assert py["build-system"]["build-backend"] == "scikit_build_core.build"
    assert any(r.startswith("nanobind") for r in py["build-system"]["requires"])
    defines = sk["cmake"]["define"]
    assert defines["STEMFLOW_PYTHON"] == "ON" and defines["STEMFLOW_TESTS"] == "OFF"
    assert defines["STEMFLOW_BENCH"] == "OFF" and defines["STEMFLOW_CUDA"] == "OFF"
    assert sk["wheel"]["packages"] == ["python/stemflow"]
    assert (ROOT / "python/stemflow/__init__.py").exists()
    m = re.search(sk["metadata"]["version"]["regex"], (ROOT / "CMakeLists.txt").read_text())
    import stemflow

    assert m and m.group("value") == stemflow.__version__
    assert "install(TARGETS _core LIBRARY DESTINATION stemflow)" in (
        ROOT / "python/CMakeLists.txt").read_text()


@pytest.mark.skipif(os.environ.get("STEMFLOW_TEST_PIP") != "1",
                    reason="set STEMFLOW_TEST_PIP=1 for the full pip install . (minutes)")
def test_pip_install_into_a_fresh_venv(tmp_path):
    # Spec: pip install . into a fresh venv, then the three lines of the README work there.
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "v")], check=True)
    pip = tmp_path / "v" / "bin" / "pip"
    subprocess.run([str(pip), "install", "-q", str(ROOT)], check=True, timeout=3600)
    code = ("import numpy as np, stemflow; d = np.ones((2, 2, 16, 16), np.uint16); "
            "r = stemflow.run({'operators': [{'type': 'virtual_image', 'name': 'bf', "
            "'detector': 'circle', 'center': [8, 8], 'radius': 3}]}, data=d, progress=False); "
            "print(stemflow.__version__, r['bf'].sum())")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(tmp_path / "v" / "bin" / "python"), "-c", code], check=True,
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert float(out.stdout.split()[1]) == 4 * 25  # 25 pixels with r^2 < 9, 4 frames of ones


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_watches_a_live_stream():
    # Spec: stemflow.start on a configured detector stream (stemflow-sim over native ZeroMQ, paced
    # at 400 frames/s): snapshots fill in while frames arrive; the series ends complete.
    sim = os.environ.get("STEMFLOW_SIM")
    if not sim or not pathlib.Path(sim).exists():
        pytest.skip("STEMFLOW_SIM (the stemflow-sim executable) is not set: run through ctest")
    import time

    import stemflow

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    sender = subprocess.Popen([sim, "synth", "--scan", "16x16", "--frame", "64x64", "--rate", "400",
                               "--bind", endpoint], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        run = stemflow.start({"input": {"source": "zmq", "endpoint": endpoint},
                              "operators": [{"type": "virtual_image", "name": "bf",
                                             "detector": "circle", "center": [32, 32],
                                             "radius": 8}]}, max_series=1)
        deadline = time.time() + 60
        partial = None
        while time.time() < deadline and not run.done():
            p = run.progress()
            if p["in_series"] and 32 <= p["processed"] < 200:
                partial = run.snapshot("bf")
                break
            time.sleep(0.02)
        res = run.wait(timeout=60)
        assert res is not None, run.progress()
    finally:
        sender.kill()
        sender.wait()
    assert partial is not None, "no snapshot caught mid-scan"
    assert np.isnan(partial).any() and np.isfinite(partial).any()
    assert res.counts["end"] == "complete" and res.coverage.all()
    seen = np.isfinite(partial)
    np.testing.assert_array_equal(res["bf"][seen], partial[seen])
