# SPDX-License-Identifier: GPL-3.0-or-later
"""examples/quickstart.ipynb runs from top to bottom (nbclient), in this venv's kernel."""
import os
import pathlib

import pytest

NOTEBOOK = pathlib.Path(__file__).parents[3] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path):
    # Spec: the example notebook simulates a scan, runs the drop-in and py4DSTEM on 100 frames
    # (its own assert: the same peaks to 1e-6 px), runs virtual detectors and plots; every cell
    # must run without an error, and the figure must be produced.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("py4DSTEM")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "peaks in both; largest position difference" in text
