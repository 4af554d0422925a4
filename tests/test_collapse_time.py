"""Time to total collapse of the categorical model: the exact ancestral-chain answer against an
independent forward computation, the engine's hitting times against it, and the compacted
multinomial step against the full one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from modelcollapse import simulate
from modelcollapse.families import categorical
from modelcollapse.families.categorical import Categorical
from modelcollapse.theory.collapse_time import (
    diffusion_total_collapse_time,
    total_collapse_cdf,
    total_collapse_mean_time,
)


def _forward_chain(n: int) -> tuple[float, np.ndarray]:
    """E[T] and Pr(T <= k), k = 0..30, from the forward chain on count vectors (K = n symbols,
    each held once): every composition of n into n parts, multinomial transitions."""
    states = [c for c in itertools.product(range(n + 1), repeat=n) if sum(c) == n]
    index = {c: i for i, c in enumerate(states)}
    size = len(states)
    P = np.zeros((size, size))
    for c in states:
        p = np.asarray(c, dtype=float) / n
        for d in states:
            P[index[c], index[d]] = stats.multinomial.pmf(d, n, p)
    absorbed = np.array([sum(x > 0 for x in c) == 1 for c in states])
    free = ~absorbed
    # Mean hitting time: (I - Q) h = 1 on the transient states.
    Q = P[np.ix_(free, free)]
    h = np.linalg.solve(np.eye(Q.shape[0]) - Q, np.ones(Q.shape[0]))
    start = index[(1,) * n]
    mean = float(h[np.flatnonzero(free).tolist().index(start)])
    dist = np.zeros(size)
    dist[start] = 1.0
    cdf = []
    for _ in range(31):
        cdf.append(dist[absorbed].sum())
        dist = dist @ P
    return mean, np.array(cdf)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_ancestral_chain_matches_forward_chain(n):
    mean, cdf = _forward_chain(n)
    assert total_collapse_mean_time(n) == pytest.approx(mean, rel=1e-10)
    np.testing.assert_allclose(total_collapse_cdf(n, np.arange(31)), cdf, atol=1e-12)


def test_diffusion_value_is_close_but_not_exact():
    # Both are about 2n; the exact chain lies below the diffusion value by O(1/n) relatively.
    for n in (50, 1000):
        exact = total_collapse_mean_time(n)
        diff = diffusion_total_collapse_time(np.full(n, 1.0 / n), n)
        assert 0 < diff / exact - 1 < 3.0 / n


def test_engine_time_to_total_collapse_matches_exact_chain():
    # K = n = 20, every symbol held once, run until every trial has collapsed. Seed 21.
    # T has mean ~37 and standard deviation ~ 20 here, so with 20,000 trials the standard error
    # of the mean is ~0.15: an off-by-one generation is a 7-sigma error, and the 4.5-sigma
    # tolerance has a false-failure rate of 7e-6. The CDF is checked at five generations
    # against its binomial standard error at 5 sigma (each 6e-7).
    n, trials = 20, 20_000
    r = simulate(
        "categorical",
        params={"p": [1.0 / n] * n},
        n=n,
        generations=100_000,
        trials=trials,
        seed=21,
        until="collapse",
        metrics=["time_to[total_collapse]_mean", "reached[total_collapse]"],
    )
    _, mean, se = r.metric("time_to[total_collapse]_mean")
    exact = total_collapse_mean_time(n)
    assert abs(mean[-1] - exact) < 4.5 * se[-1], (mean[-1], se[-1], exact)
    gens, reached, _ = r.metric("reached[total_collapse]")
    ks = np.array([10, 20, 40, 80, 120])
    cdf = total_collapse_cdf(n, ks)
    got = reached[np.searchsorted(gens, ks)]
    tol = 5 * np.sqrt(cdf * (1 - cdf) / trials) + 1e-12
    assert np.all(np.abs(got - cdf) <= tol), (got, cdf)
    assert r.config["generations_run"] == gens[-1]


@pytest.mark.parametrize("last_alive", [False, True])
def test_packed_multinomial_step_draws_exactly_the_full_step(monkeypatch, last_alive):
    # Each trial has its own few live symbols (a different number per trial, none in some
    # columns, the last column live or dead): the packed draw must equal the full multinomial
    # draw bit for bit, from the same stream. Seeds 5 and 9.
    rng = np.random.default_rng(5)
    m, trials, n = 200, 300, 150
    state = np.zeros((trials, m), dtype=np.int64)
    for t in range(trials):
        k = 1 + t % 7
        pool = m if last_alive else m - 1
        live = rng.choice(pool, k, replace=False)
        state[t, live] = rng.multinomial(n, np.full(k, 1.0 / k))
    fam = Categorical(p=np.full(m, 1.0 / m))
    monkeypatch.setattr(categorical, "COMPACT_SHARE", 1.0)
    packed = fam.step_exact(state, n, np.random.default_rng(9))
    monkeypatch.setattr(categorical, "COMPACT_SHARE", 0.0)
    full = fam.step_exact(state, n, np.random.default_rng(9))
    np.testing.assert_array_equal(packed, full)
    assert np.all(packed.sum(axis=1) == n)
    assert not np.any(packed[state == 0])  # dead symbols stay dead
    assert math.isclose(packed.mean(), n / m)
