"""The guide-table binomial sampler draws Binomial(n, c/n) exactly.

Chi-square goodness of fit against scipy's pmf for several (n, c), 200,000 draws each (cells
with expected count below 5 pooled); the false-failure rate of the test is 1e-4 split over its
comparisons (Bonferroni). With 200,000 draws a shift of one cell's probability by 0.005 (e.g. an
off-by-one in the inversion) gives a chi-square contribution of about 50 on that cell alone.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from modelcollapse.families.lattice_binomial import LatticeBinomial
from modelcollapse.seeding import block_generator

from conftest import ALPHA

CASES = [(1, 0), (1, 1), (10, 3), (37, 1), (100, 20), (100, 99), (500, 250), (1024, 7)]


def test_goodness_of_fit():
    rng = block_generator(61, 0)
    draws = 200_000
    for n, c in CASES:
        sampler = LatticeBinomial(n)
        x = sampler.draw(np.full(draws, c), rng)
        assert x.min() >= 0 and x.max() <= n
        if c in (0, n):
            assert np.all(x == c), "absorbing states are exact"
            continue
        pmf = stats.binom.pmf(np.arange(n + 1), n, c / n)
        observed = np.bincount(x, minlength=n + 1).astype(float)
        expected = pmf * draws
        big = expected >= 5
        obs = np.append(observed[big], observed[~big].sum())
        exp = np.append(expected[big], expected[~big].sum())
        keep = exp > 0
        p = stats.chisquare(obs[keep], exp[keep] * obs[keep].sum() / exp[keep].sum()).pvalue
        assert p > ALPHA / len(CASES), f"n={n} c={c}: p = {p:.2e}"


def test_mixed_counts_in_one_call():
    # Every entry is drawn from its own row: a vector of different c against per-c draws.
    sampler = LatticeBinomial(20)
    rng = block_generator(62, 0)
    counts = np.tile(np.array([0, 5, 20]), 30_000)
    x = sampler.draw(counts, rng)
    assert np.all(x[counts == 0] == 0) and np.all(x[counts == 20] == 20)
    mid = x[counts == 5]
    # Mean 5 and variance 20 * 0.25 * 0.75 = 3.75; 30,000 draws: s.e. of the mean 0.011.
    assert abs(mid.mean() - 5) < 5 * np.sqrt(3.75 / mid.size)
