"""A plug-in that counts its fits and can fail on a chosen call, and a plug-in model with a
collapse event (for ``until``); importable by worker processes as ``resume_helpers:Name``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from modelcollapse.families.base import Event
from modelcollapse.models.plugin import PluginModel

from plugin_helpers import GaussianML

#: Fits made in this process by CountingGaussian, and the call (1-based) that raises, if any.
FITS = {"calls": 0, "fail_on": None}


class CountingGaussian(GaussianML):
    """GaussianML that counts its fits in ``FITS`` and raises on call ``FITS["fail_on"]``."""

    def describe(self) -> str:
        # The same description failing or not: a rerun after the "fix" resumes the stored trials.
        return "CountingGaussian"

    def fit(self, data, rng):
        FITS["calls"] += 1
        if FITS["calls"] == FITS["fail_on"]:
            raise RuntimeError("deliberate failure")
        return super().fit(data, rng)


class VarianceCollapse(PluginModel):
    """A plug-in model with one event: the fitted variance below ``THRESHOLD`` (first passage).

    The ML Gaussian's variance shrinks by a factor chi2_{n-1}/n per generation (mean log drift
    psi((n-1)/2) + log(2/n) < 0), so every trial gets below any threshold in finite time.
    """

    THRESHOLD: ClassVar[float] = 0.01
    EVENT: ClassVar[str] = "var<0.01"

    def events(self):
        return (Event(self.EVENT, "fitted variance below the threshold", absorbing=False),)

    def hits(self, state, rows):
        low = state.fitted is not None and state.fitted[1] < self.THRESHOLD
        return np.full((len(rows), 1), low, dtype=bool)

    @property
    def terminal_event(self):
        return self.EVENT


class LooseVarianceCollapse(VarianceCollapse):
    """The same with a threshold a mix workflow's trials also reach (real data lift the
    variance, so 0.01 may take very long)."""

    THRESHOLD: ClassVar[float] = 0.3
    EVENT: ClassVar[str] = "var<0.3"
