"""Accuracy of the exact law of Sigma_k (sigma_tail, sigma_cdf, sigma_quantile) against an
independent high-precision computation.

The reference uses mpmath only: the regularised incomplete gamma function for k = 1 (Pr(Sigma_1
> eps) = Q(a, d eps^2 / (2 sigma0^2)), a = (n-1)/2), and for k >= 2 a 30-digit inversion of
the moment generating function (mpmath's own loggamma, its own saddlepoint found by bisection,
and tanh-sinh quadrature), so that it shares no code and no shortcut with the package: neither
the Stirling differences nor the trapezoidal rule nor the step-size choices. The promise tested
is the docstring's: relative error <= 1e-8 in both tails wherever the probability is >= 1e-300.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from modelcollapse.theory import (
    best_moment_bound,
    log_variance_drift,
    sigma_cdf,
    sigma_quantile,
    sigma_tail,
    variance_log_variance,
)

REL = 1e-8


def reference_tails(eps: float, sigma0: float, n: int, k: int, estimator: str = "unbiased"):
    """(Pr(Sigma_k > eps), Pr(Sigma_k <= eps)) to about 20 digits, by mpmath alone."""
    with mp.workdps(30):
        a = mp.mpf(n - 1) / 2
        d = mp.mpf(n - 1 if estimator == "unbiased" else n)
        x = 2 * (mp.log(mp.mpf(eps)) - mp.log(mp.mpf(sigma0)))
        if k == 1:
            y = d / 2 * mp.exp(x)
            return (
                mp.gammainc(a, y, mp.inf, regularized=True),
                mp.gammainc(a, 0, y, regularized=True),
            )
        c = mp.log(2 / d)  # log Sigma_k^2 / sigma0^2 = sum of k log(2 G / d), G ~ Gamma(a)
        upper = x > k * (mp.digamma(a) + c)
        lo, hi = (mp.mpf(0), mp.mpf(1)) if upper else (-a, mp.mpf(0))
        while upper and k * (mp.digamma(a + hi) + c) < x:
            hi *= 2
        for _ in range(150):  # saddlepoint: k (psi(a + s) + c) = x
            mid = (lo + hi) / 2
            if k * (mp.digamma(a + mid) + c) < x:
                lo = mid
            else:
                hi = mid
        tau = (lo + hi) / 2
        sd = mp.sqrt(k * mp.psi(1, a + tau))
        if abs(tau) < 1 / sd:  # keep the contour away from the pole at 0
            tau = 1 / sd if upper else -min(1 / sd, a / 2)
            sd = mp.sqrt(k * mp.psi(1, a + tau))
        lg_a = mp.loggamma(a)
        shift = k * (mp.loggamma(a + tau) - lg_a + tau * c) - tau * x

        def integrand(t):
            z = tau + 1j * t
            return mp.re(mp.exp(k * (mp.loggamma(a + z) - lg_a + z * c) - z * x - shift) / z)

        cuts = [0] + [j / sd for j in (1, 2, 4, 8, 16, 32, 64)] + [mp.inf]
        small = abs(mp.quad(integrand, cuts) / mp.pi * mp.exp(shift))
        return (small, 1 - small) if upper else (1 - small, small)


def _check(eps: float, n: int, k: int, estimator: str = "unbiased") -> int:
    """Compare both tails at one point; return how many probabilities were >= 1e-300."""
    ref_up, ref_low = reference_tails(eps, 1.0, n, k, estimator)
    got_up = float(sigma_tail(eps, 1.0, n, k, estimator))
    got_low = float(sigma_cdf(eps, 1.0, n, k, estimator))
    checked = 0
    for got, ref, name in ((got_up, ref_up, "tail"), (got_low, ref_low, "cdf")):
        if ref >= 1e-300:
            rel = abs(got / float(ref) - 1.0)
            assert rel <= REL, (name, n, k, eps, estimator, got, float(ref), rel)
            checked += 1
    return checked


GRID_N = (2, 10, 1001, 100_000)
GRID_K = (1, 2, 7, 3000, 1_000_000)
GRID_Z = (-25.0, -6.0, -0.5, 6.0, 25.0)


@pytest.mark.parametrize("n", GRID_N)
def test_both_tails_on_a_grid(n):
    # Points at mean + z sd of log Sigma_k^2: the centre, 6 sd (probabilities near 1e-9) and
    # 25 sd (down to about 1e-140, and to 1e-300 where the law is skewed); where eps would not
    # be a finite double the point is skipped. Each point checks both tails.
    checked = 0
    for k in GRID_K:
        mean = k * log_variance_drift(n)
        sd = math.sqrt(float(variance_log_variance(n, k)))
        for z in GRID_Z:
            x = mean + z * sd
            if abs(x) > 1400:
                continue
            checked += _check(math.exp(x / 2), n, k)
    assert checked >= 25


@pytest.mark.parametrize(("n", "k"), [(10, 2), (10, 3000), (1001, 7)])
def test_ml_estimator(n, k):
    mean = k * log_variance_drift(n, "ml")
    sd = math.sqrt(float(variance_log_variance(n, k)))
    for z in (-20.0, -1.0, 1.0, 8.0):
        _check(math.exp((mean + z * sd) / 2), n, k, "ml")


def test_the_cases_of_issue_12():
    # Where the former characteristic-function inversion lost digits (n k large) or returned
    # noise in a deep tail (1.7e-12 instead of about 2e-48).
    for n, k, target in ((1001, 3000, 1e-6), (10000, 100, 1e-8)):
        mean = k * log_variance_drift(n)
        sd = math.sqrt(float(variance_log_variance(n, k)))
        z = -float(mp.sqrt(2) * mp.erfinv(2 * target - 1))  # normal z with tail = target
        for x in (mean + z * sd, mean - z * sd):
            _check(math.exp(x / 2), n, k)
    assert _check(2.0, 1000, 5) == 2
    deep = float(sigma_tail(2.0, 1.0, 1000, 5))
    bound = float(best_moment_bound(2.0, 1.0, 1000, 5)[0][()])
    assert 0.0 < deep <= bound  # a rigorous Chernoff bound (about 7.5e-47)


def test_lower_tail_is_not_one_minus_the_upper():
    # Pr(Sigma_k <= eps) = 4.2e-55 would be 0 as 1 - Pr(Sigma_k > eps).
    n, k = 2, 30
    x = k * log_variance_drift(n) - 30.0 * math.sqrt(float(variance_log_variance(n, k)))
    eps = math.exp(x / 2)
    low = float(sigma_cdf(eps, 1.0, n, k))
    assert 0.0 < low < 1e-40
    assert 1.0 - float(sigma_tail(eps, 1.0, n, k)) == 0.0
    _check(eps, n, k)


@pytest.mark.parametrize(("n", "k"), [(2, 5), (10, 400), (100_000, 1_000_000)])
def test_quantiles_invert_both_tails_in_relative_terms(n, k):
    q = np.array([1e-12, 1e-3, 0.5, 0.999, 1.0 - 1e-12])
    eps = sigma_quantile(q, 1.0, n, k)
    low = sigma_cdf(eps, 1.0, n, k)
    up = sigma_tail(eps, 1.0, n, k)
    # Relative error on the smaller tail; the quantile is found to ~13 digits in log eps, and
    # the density scale turns that into well below 1e-8 on the probability.
    assert np.all(np.abs(low[:3] / q[:3] - 1.0) < 1e-7)
    assert np.all(np.abs(up[3:] / (1.0 - q[3:]) - 1.0) < 1e-7)
