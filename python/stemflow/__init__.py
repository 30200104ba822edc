# SPDX-License-Identifier: GPL-3.0-or-later
"""stemflow in Python: the streaming 4D-STEM engine, a py4DSTEM drop-in, live results.

    import stemflow
    bv = stemflow.find_bragg_disks(data, template)          # py4DSTEM's find_Bragg_disks, faster
    res = stemflow.run("analysis.toml", data=data)          # any configuration, a numpy array as input
    run = stemflow.start("live.toml"); run.snapshot("bf")   # watch a live stream
"""
from ._core import ConfigError, __version__, set_log_level
from ._api import Results, Run, run, start
from ._bragg import BraggPeaks, find_bragg_disks

__all__ = [
    "BraggPeaks",
    "ConfigError",
    "Results",
    "Run",
    "__version__",
    "find_bragg_disks",
    "run",
    "set_log_level",
    "start",
]

# The engine logs to stderr at "info" on the command line; in a notebook the progress bar says it.
set_log_level("warn")
