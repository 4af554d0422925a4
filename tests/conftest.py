"""Shared test helpers.

Statistical tests in this suite follow one rule: each test function has a total false-failure
rate of at most 1e-4, split over its comparisons with a Bonferroni correction; each states its
seed and why its sample size catches a real bug.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

#: Per-test false-failure budget.
ALPHA = 1e-4

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WIKITEXT = SHARED_DATA / "wikitext2-train-500k.txt"


def z_bound(comparisons: int, alpha: float = ALPHA) -> float:
    """Two-sided normal critical value for ``comparisons`` tests sharing ``alpha`` (Bonferroni)."""
    return float(stats.norm.isf(alpha / (2 * comparisons)))


def assert_z(observed, expected, stderr, comparisons: int, what: str = "") -> None:
    """|observed - expected| <= z * stderr for every entry, z from the Bonferroni split."""
    observed, expected, stderr = (np.asarray(a, dtype=float) for a in (observed, expected, stderr))
    z = np.abs(observed - expected) / stderr
    bound = z_bound(comparisons)
    worst = int(np.nanargmax(z)) if z.size else 0
    assert np.all(z <= bound), (
        f"{what}: |z| = {z.ravel()[worst]:.2f} > {bound:.2f} at entry {worst} "
        f"(observed {observed.ravel()[worst]!r}, expected {expected.ravel()[worst]!r})"
    )


def binomial_chain_survival(n: int, c0: int, ks) -> np.ndarray:
    """Pr(C_k > 0 | C_0 = c0) for C_k ~ Bin(n, C_{k-1}/n), by powers of the transition matrix."""
    states = np.arange(n + 1)
    T = stats.binom.pmf(states[None, :], n, states[:, None] / n)
    dist = np.zeros(n + 1)
    dist[c0] = 1.0
    out, k_prev = [], 0
    for k in ks:
        for _ in range(k - k_prev):
            dist = dist @ T
        k_prev = k
        out.append(1.0 - dist[0])
    return np.asarray(out)


@pytest.fixture
def wikitext_path() -> Path:
    if not WIKITEXT.is_file():
        pytest.skip(f"WikiText sample not found at {WIKITEXT} (../shared/data is absent)")
    return WIKITEXT
