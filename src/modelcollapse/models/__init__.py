"""Per-trial models: fitted and sampled one trial at a time (n-grams, plug-ins, neural LMs).

They run on the same generation loop as the vectorised families (``modelcollapse.engine``), as
blocks of one trial, each trial with its own random stream keyed by (seed, cell, trial).
"""

from modelcollapse.models.base import PerTrialModel

__all__ = ["PerTrialModel"]
