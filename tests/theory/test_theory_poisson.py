"""Poisson: Theorem 2 against an independent truncated transition matrix and published values."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import stats

from modelcollapse.errors import ConfigError
from modelcollapse.theory import branching_extinction, branching_survival, theorem2_survival


@functools.lru_cache(maxsize=1)
def _poisson_matrix(size: int) -> np.ndarray:
    j = np.arange(size)
    T = stats.poisson.pmf(j[None, :], j[:, None])
    T[0] = 0.0
    T[0, 0] = 1.0
    return T


def _poisson_chain_survival(lam0: float, n: int, kmax: int, size: int = 1500) -> np.ndarray:
    """Pr(N_k > 0) by pushing the law of N_k = n Lambda_k forward on the states 0..size-1."""
    j = np.arange(size)
    T = _poisson_matrix(size)
    law = stats.poisson.pmf(j, n * lam0)  # N_1
    out = [1.0 if lam0 > 0 else 0.0]
    for _ in range(kmax):
        out.append(1.0 - law[0])
        law = law @ T
    return np.array(out)


@pytest.mark.parametrize(("lam0", "n"), [(1.0, 10), (10.0, 10), (0.05, 20), (0.3, 3)])
def test_theorem2_equals_the_chain(lam0, n):
    # 1500 states leave an escape probability far below 1e-12 over 100 generations
    k = np.arange(0, 101)
    ref = _poisson_chain_survival(lam0, n, 100)
    assert np.max(np.abs(theorem2_survival(lam0, n, k) - ref)) < 1e-10


def test_published_poisson_values():
    # SPEC.md section 5, "poisson": read off the figure, +-0.02
    assert theorem2_survival(1.0, 10, [56, 111, 500]) == pytest.approx([0.29, 0.16, 0.04], abs=0.02)
    assert theorem2_survival(10.0, 10, [56, 111, 500]) == pytest.approx(
        [0.96, 0.82, 0.33], abs=0.02
    )


def test_branching_survival_from_the_generating_function():
    c = np.array([1, 2, 7])[:, None]
    k = np.arange(0, 40)[None, :]
    q = np.zeros(40)
    for i in range(1, 40):
        q[i] = np.exp(q[i - 1] - 1)  # iterated generating function f(s) = e^{s-1}
    assert np.allclose(branching_survival(c, k), 1 - q[None, :] ** c, atol=1e-14)
    assert np.allclose(branching_extinction(np.arange(40)), q, atol=1e-15)
    # Theorem 2 is the same process with c = n lam0
    assert np.allclose(branching_survival(3.0, k), theorem2_survival(0.3, 10, k))


def test_limits():
    assert float(theorem2_survival(0.0, 10, 5)) == 0.0
    assert float(theorem2_survival(1.0, 10, 0)) == 1.0
    s = theorem2_survival(1.0, 10, np.arange(1, 10**5, 97))
    assert np.all(np.diff(s) < 0)
    k = 10**6
    # 1 - exp(-c g_k) ~ 2c/k for k >> c
    assert float(theorem2_survival(1.0, 10, k)) * k / 20 == pytest.approx(1, rel=1e-3)


def test_bad_input():
    with pytest.raises(ConfigError):
        theorem2_survival(-1, 10, 1)
    with pytest.raises(ConfigError):
        branching_survival(1, -2)
