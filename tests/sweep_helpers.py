"""What the sweep tests share: a small sweep and the equality of two sweep directories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelcollapse.sweep import query

#: Eight small cells (Gaussian, both estimators, two n, two replicates).
QUICK_SWEEP = """
seed = 3
replicates = 2
[base]
family = "gaussian"
generations = 8
trials = 300
eps = [0.5]
[base.params]
mu = 0.0
sigma = 1.0
[grid]
n = [5, 20]
estimator = ["unbiased", "ml"]
"""


def assert_same_cells(a: Path, b: Path) -> None:
    """Two sweep directories hold the same cells, once each, with bit-identical values."""
    ta, tb = query(a), query(b)
    assert list(ta.columns) == list(tb.columns)
    for col in ta.columns:
        np.testing.assert_array_equal(ta[col], tb[col], err_msg=col)
    names_a = sorted(p.name for p in (a / "cells").glob("*.parquet"))
    names_b = sorted(p.name for p in (b / "cells").glob("*.parquet"))
    assert names_a == names_b


def finite_part(summary):
    """Summary values that must be finite: all but the hitting-time statistics, which are NaN
    by design while some trial has not reached the event (a right-censored time)."""
    return summary["value"][~summary["metric"].str.startswith("time_to[")]
