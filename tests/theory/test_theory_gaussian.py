"""Gaussian: exact law of log Sigma_k^2, its tail and quantiles, and the bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from modelcollapse.errors import ConfigError
from modelcollapse.theory import (
    bertrand_bound,
    best_moment_bound,
    expected_log_variance,
    expected_sigma,
    expected_variance,
    log_variance_drift,
    moment_bound,
    sigma_quantile,
    sigma_tail,
    theorem3_bound,
    variance_log_variance,
)


def test_drift_known_values_spec_section_6():
    assert log_variance_drift(10, "unbiased") == pytest.approx(-0.1152, abs=5e-5)
    assert log_variance_drift(10, "ml") == pytest.approx(-0.2206, abs=5e-5)


@pytest.mark.parametrize("estimator", ["unbiased", "ml"])
@pytest.mark.parametrize("n", [2, 3, 10, 101])
def test_one_step_moments_by_numerical_integration(n, estimator):
    d = n - 1 if estimator == "unbiased" else n
    nu = n - 1
    f = stats.chi2(nu).pdf

    def mom(h):
        return integrate.quad(lambda x: h(x) * f(x), 0, np.inf, limit=200, epsabs=1e-13)[0]

    m1 = mom(lambda x: np.log(x / d))
    m2 = mom(lambda x: np.log(x / d) ** 2)
    assert float(expected_log_variance(1.0, n, 1, estimator)) == pytest.approx(m1, abs=1e-8)
    assert float(variance_log_variance(n, 1)) == pytest.approx(m2 - m1**2, abs=1e-7)
    assert float(expected_variance(1.0, n, 1, estimator)) == pytest.approx(mom(lambda x: x / d))
    assert float(expected_sigma(1.0, n, 1, estimator)) == pytest.approx(
        mom(lambda x: np.sqrt(x / d))
    )
    # k generations multiply (independent steps)
    s0, k = 2.5, 7
    assert float(expected_log_variance(s0, n, k, estimator)) == pytest.approx(
        2 * math.log(s0) + k * m1
    )
    assert float(expected_variance(s0, n, k, estimator)) == pytest.approx(s0**2 * (nu / d) ** k)


@pytest.mark.parametrize("estimator", ["unbiased", "ml"])
@pytest.mark.parametrize("n", [2, 3, 5, 10, 100, 1000])
def test_one_generation_is_a_chi_square_tail(n, estimator):
    d = n - 1 if estimator == "unbiased" else n
    eps = np.array([0.01, 0.1, 0.5, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0, 5.0])
    exact = stats.chi2.sf(d * eps**2 / 1.7**2, n - 1)
    got = sigma_tail(eps, 1.7, n, 1, estimator)
    big = exact > 1e-6
    assert np.all(np.abs(got[big] / exact[big] - 1) < 1e-6)
    assert np.all(np.abs(got - exact) < 1e-12)


@pytest.mark.parametrize(("n", "eps"), [(3, 0.05), (3, 4.0), (10, 0.3), (10, 2.1), (10, 0.08)])
def test_two_generations_by_numerical_integration(n, eps):
    # Pr(X1 X2 > c), X = chi2_{n-1}/(n-1): integrate the density of X1 against the tail of X2
    d, nu, c = n - 1, n - 1, eps**2
    dens = stats.chi2(nu).pdf

    def h(x: float) -> float:
        return dens(x) * stats.chi2.sf(d * d * c / x, nu) if x > 0 else 0.0

    opts = {"limit": 400, "epsabs": 1e-15, "epsrel": 1e-11}
    ref = integrate.quad(h, 0, nu, **opts)[0] + integrate.quad(h, nu, np.inf, **opts)[0]
    got = float(sigma_tail(eps, 1.0, n, 2))
    assert ref > 1e-6
    assert got == pytest.approx(ref, rel=1e-6)


def test_tail_against_monte_carlo():
    # seed 20250101; 10^6 paths of k = 20 and 60 generations at n = 10. Each probability has
    # standard error <= 5e-4; |z| < 4.4 over 2 x 3 comparisons keeps the false-failure rate
    # below 1e-4 (Bonferroni); a 1% relative error at p ~ 0.5 would be a 10-sigma failure.
    rng = np.random.default_rng(20250101)
    n, trials = 10, 10**6
    for estimator, d in (("unbiased", 9), ("ml", 10)):
        logs = np.zeros(trials)
        for k in range(1, 61):
            logs += np.log(rng.chisquare(n - 1, trials) / d)
            if k in (20, 60):
                for eps in (0.3, 0.6, 1.0):
                    p_mc = np.mean(logs > 2 * math.log(eps))
                    p = float(sigma_tail(eps, 1.0, n, k, estimator))
                    se = math.sqrt(max(p * (1 - p), 1e-12) / trials)
                    assert abs(p_mc - p) / se < 4.4


def test_large_k_tail_matches_the_gaussian_limit_and_is_monotone():
    n, k = 1000, 20000
    mean = k * log_variance_drift(n)
    sd = math.sqrt(float(variance_log_variance(n, k)))
    x = mean + 1.0 * sd  # one sd above the mean: the CLT is accurate to a few 1e-3
    p = float(sigma_tail(math.exp(x / 2), 1.0, n, k))
    assert p == pytest.approx(stats.norm.sf(1.0), abs=5e-3)
    s = sigma_tail(0.1, 1.0, 10, np.arange(0, 400))
    assert s[0] == 1.0 and np.all(np.diff(s[20:]) < 0)


def test_quantiles_invert_the_tail():
    q = np.array([0.05, 0.5, 0.95])[:, None]
    k = np.array([1, 5, 40, 200])[None, :]
    sq = sigma_quantile(q, 1.3, 10, k)
    assert np.allclose(1 - sigma_tail(sq, 1.3, 10, k), q, atol=1e-9)
    one = sigma_quantile([0.1, 0.9], 1.0, 10, 1, "ml")
    assert np.allclose(one, np.sqrt(stats.chi2.ppf([0.1, 0.9], 9) / 10), rtol=1e-9)
    assert float(sigma_quantile(0.5, 2.0, 10, 0)) == 2.0


@pytest.mark.parametrize("estimator", ["unbiased", "ml"])
@pytest.mark.parametrize(("n", "eps", "sigma0"), [(10, 0.1, 1.0), (3, 0.5, 1.0), (50, 0.2, 2.0)])
def test_bounds_bracket_the_exact_tail(n, eps, sigma0, estimator):
    k = np.arange(0, 401, 3)
    exact = sigma_tail(eps, sigma0, n, k, estimator)
    best, s = best_moment_bound(eps, sigma0, n, k, estimator)
    for bound in (
        theorem3_bound(eps, sigma0, n, k),
        moment_bound(eps, sigma0, n, k, 0.35, estimator),
        moment_bound(eps, sigma0, n, k, 0.1, estimator),
        bertrand_bound(eps, sigma0, n, k, estimator),
        best,
    ):
        assert np.all(exact <= bound + 1e-12)
    for ss in (0.05, 0.2, 0.35, 0.8, 2.0):
        assert np.all(best <= moment_bound(eps, sigma0, n, k, ss, estimator) + 1e-12)
    # the optimum s is a stationary point: nudging it does not help
    kk = k[(s > 0.01)]
    if kk.size:
        b0 = best[s > 0.01]
        for ds in (-1e-3, 1e-3):
            for i, kv in enumerate(kk):
                sv = float(s[k == kv][0]) + ds
                assert b0[i] <= float(moment_bound(eps, sigma0, n, kv, sv, estimator)) + 1e-12


def test_published_gaussian_values():
    # gauss-collapse of SPEC.md section 5 (n=10, eps=0.1, sigma0=1), +-0.02 reading error
    sim = sigma_tail(0.1, 1.0, 10, [23, 45, 67, 89, 111, 200])
    assert sim == pytest.approx([0.79, 0.43, 0.22, 0.12, 0.06, 0.01], abs=0.02)
    paper = moment_bound(0.1, 1.0, 10, [67, 89, 111, 133, 200], s=0.35)
    assert paper == pytest.approx([0.91, 0.52, 0.30, 0.17, 0.03], abs=0.02)
    bert = bertrand_bound(0.1, 1.0, 10, [60, 89, 111, 133, 200])
    assert bert == pytest.approx([1.0, 0.85, 0.46, 0.25, 0.04], abs=0.02)


def test_bertrand_alpha_closed_form():
    n = 10
    alpha = math.sqrt(2 / (n - 1)) * math.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2))
    assert float(bertrand_bound(2.0, 1.0, n, 7)) == pytest.approx(alpha**7 / 2.0)


def test_bad_input():
    with pytest.raises(ConfigError):
        sigma_tail(0.1, 1.0, 1, 3)
    with pytest.raises(ConfigError):
        sigma_tail(-0.1, 1.0, 10, 3)
    with pytest.raises(ConfigError, match="estimator"):
        sigma_tail(0.1, 1.0, 10, 3, "mle")
    with pytest.raises(ConfigError):
        moment_bound(0.1, 1.0, 10, 3, s=0.0)
