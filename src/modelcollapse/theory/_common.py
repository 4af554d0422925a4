"""Small shared types of the theory package."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray


class Bounds(NamedTuple):
    """A lower and an upper bound on the same quantity, as arrays of equal shape."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


def exp_neg(a: NDArray[np.float64], gk: NDArray[np.float64]) -> NDArray[np.float64]:
    """exp(-a * g_k) with the convention 0 * inf = 0 (g_0 = inf, a start at 0 never moves)."""
    with np.errstate(invalid="ignore"):
        prod = a * gk
    return np.exp(-np.where(a == 0, 0.0, prod))
