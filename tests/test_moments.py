"""Streaming moments: one-shot and block-merged moments equal the textbook formulas."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcollapse.moments import Moments


def _reference(x: np.ndarray):
    mean = x.mean()
    d = x - mean
    return mean, (d**2).sum(), (d**3).sum(), (d**4).sum()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 59), max_size=4),
)
def test_merged_blocks_equal_one_pass(values, cuts):
    x = np.asarray(values)
    bounds = sorted({c for c in cuts if c < len(x)})
    total = Moments.zeros((1,))
    for part in np.split(x, bounds):
        total.merge(Moments.of(part[None, :]))
    mean, m2, m3, m4 = _reference(x)
    scale = max(1.0, float(np.abs(x).max()))
    assert total.n[0] == len(x)
    np.testing.assert_allclose(total.mean, mean, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(total.m2, m2, rtol=1e-8, atol=1e-7 * scale**2)
    np.testing.assert_allclose(total.m3, m3, rtol=1e-6, atol=1e-6 * scale**3)
    np.testing.assert_allclose(total.m4, m4, rtol=1e-6, atol=1e-6 * scale**4)


def test_constant_and_far_from_zero_series():
    x = np.full(4096, 0.01)
    m = Moments.of(x)
    assert m.mean == 0.01 and m.m2 == 0 and m.m4 == 0
    # A log-variance after 1e6 generations: values near -1.15e5 with unit spread.
    rng = np.random.default_rng(0)
    y = -1.15e5 + rng.standard_normal(5000)
    got = Moments.of(y)
    np.testing.assert_allclose(got.variance(), y.var(ddof=1), rtol=1e-9)
    np.testing.assert_allclose(got.m4 / 5000, ((y - y.mean()) ** 4).mean(), rtol=1e-7)


def test_standard_errors():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(100_000)
    m = Moments.of(x)
    np.testing.assert_allclose(m.stderr_of_mean(), x.std(ddof=1) / np.sqrt(x.size), rtol=1e-12)
    # Var(s^2) for a standard normal sample is 2 / (n - 1).
    np.testing.assert_allclose(m.stderr_of_variance(), np.sqrt(2 / x.size), rtol=0.02)
