"""The exact curve and Corollary 1's bounds next to a unigram forgetting run.

``modelcollapse.forgetting`` simulates; ``modelcollapse.theory.categorical`` computes; this module
is where they meet (DESIGN.md: theory and simulation meet only in experiments and tests).
"""

from __future__ import annotations

import numpy as np

from modelcollapse.forgetting import ForgettingResult
from modelcollapse.theory.categorical import corollary1_bounds, expected_unique_fraction


def theory_uniq_fraction(
    counts: np.ndarray, n: int, generations: np.ndarray
) -> dict[str, np.ndarray]:
    """Exact E[uniq_k]/m and the Corollary 1 bounds divided by m (Suresh et al. 2025)."""
    m = int(np.count_nonzero(counts))
    exact = expected_unique_fraction(generations, counts=counts, n=n)
    bounds = corollary1_bounds(generations, counts=counts, n=n)
    return {
        "exact": np.asarray(exact, dtype=float),
        "lower": np.asarray(bounds.lower, dtype=float) / m,
        "upper": np.asarray(bounds.upper, dtype=float) / m,
    }


def attach_theory(result: ForgettingResult) -> ForgettingResult:
    """Fill ``result.theory`` for its corpus counts, n and generations; returns the result."""
    result.theory = theory_uniq_fraction(result.counts, result.n, np.arange(result.generations + 1))
    return result
