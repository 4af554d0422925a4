"""Score functions for the curation command-line tests (importable as ``curation_helpers:NAME``)."""

from __future__ import annotations

import numpy as np


def near_zero(x):
    """Minus the distance of each sample from 0: curation keeps the samples nearest the origin.

    ``x`` has shape (trials, m) for a scalar family and (trials, m, *event) otherwise."""
    x = np.asarray(x, dtype=float)
    return -np.abs(x.reshape(x.shape[:2] + (-1,))).sum(axis=-1)


#: Not callable: ``--curate curation_helpers:NOT_A_FUNCTION`` must be refused.
NOT_A_FUNCTION = 3.0
