"""The exact (sufficient-statistic) step against the naive (sample-then-fit) step.

Both must give the same distribution of the parameters after several generations. Each test
compares the per-trial parameters at the last generation with chi-square homogeneity tests of the
discrete parameters; the false-failure rate of each test function is 1e-4, split (Bonferroni)
over its comparisons. The continuous parameters (Gaussian, categorical entropy) are tested
against exact moments with far more power in ``test_fast_vs_naive_power.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from modelcollapse import simulate

from conftest import ALPHA

T = 8_000


def _final(family, params, n, generations, method, seed, **kw):
    r = simulate(family, params=params, n=n, generations=generations, trials=T, seed=seed,
                 method=method, trajectories=True, **kw)
    traj = r.trajectories
    last = traj["generation"] == generations
    return {name: traj[name][last] for name in traj.columns if name not in ("generation", "trial")}


def _chi2_homogeneity(a, b) -> float:
    values = np.union1d(a, b)
    table = np.stack([np.searchsorted(values, a)[:, None] == np.arange(len(values)),
                      np.searchsorted(values, b)[:, None] == np.arange(len(values))]).sum(axis=1)
    # Pool rare values so every expected count is at least 5.
    keep = table.sum(axis=0) >= 10
    pooled = np.concatenate([table[:, keep], table[:, ~keep].sum(axis=1, keepdims=True)], axis=1)
    pooled = pooled[:, pooled.sum(axis=0) > 0]
    if pooled.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(pooled)[1])


def test_bernoulli_exact_equals_naive():
    a = _final("bernoulli", {"p": 0.3}, 40, 6, "exact", 23)
    b = _final("bernoulli", {"p": 0.3}, 40, 6, "naive", 24)
    assert _chi2_homogeneity(a["p"], b["p"]) > ALPHA


def test_poisson_exact_equals_naive():
    a = _final("poisson", {"lambda": 1.5}, 20, 6, "exact", 25)
    b = _final("poisson", {"lambda": 1.5}, 20, 6, "naive", 26)
    assert _chi2_homogeneity(a["lambda"], b["lambda"]) > ALPHA


def test_categorical_exact_equals_naive_from_counts_and_from_p():
    for params, seed in (({"counts": [1, 2, 3, 0, 10, 4]}, 27), ({"p": [0.05, 0.15, 0.3, 0.5]}, 29)):
        a = _final("categorical", params, 20, 5, "exact", seed)
        b = _final("categorical", params, 20, 5, "naive", seed + 1)
        assert _chi2_homogeneity(a["uniq"], b["uniq"]) > ALPHA / 2
