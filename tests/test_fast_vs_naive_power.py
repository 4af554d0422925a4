"""Exact (sufficient-statistic) and naive (sample-then-fit) paths, each against exact moments.

This replaces the two-sample Kolmogorov-Smirnov comparison of tests/test_engine_fast_vs_naive.py
for the continuous parameters: with 8,000 trials per path, KS at its Bonferroni threshold has
only about 15% power against a shift of 0.06 standard deviations, and a step with a wrongly
scaled mean passed it. Here each path's mean and variance of the parameters after k generations
are z-tested against their exact values (SPEC.md section 3; the formulas are in each test).

Sizes and power: T = 200,000 trials per path, so the standard error of a mean is sd / 447.
Each test function splits its 1e-4 false-failure rate over its comparisons (Bonferroni, at most
16, |z| < 4.52). A bias of delta standard deviations in a mean is then detected with
probability Phi(447 delta - 4.52): 0.99 at delta = 0.015 and 1 - 1e-40 at delta = 0.06. A
variance off by a factor (1 + r) is detected for r above about 0.03 (its s.e. is about
sd^2 sqrt(2/T) times a kurtosis factor below 2 here).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from modelcollapse import simulate

from conftest import assert_z, binomial_chain_survival

T = 200_000


def _last(family, params, n, k, method, seed, metrics, **kw):
    r = simulate(
        family, params=params, n=n, generations=k, trials=T, seed=seed, method=method,
        metrics=metrics, **kw,
    )
    out = {}
    for name in metrics:
        g, v, e = r.metric(name)
        out[name] = (float(v[g == k][0]), float(e[g == k][0]))
    return out


def test_gaussian_paths_match_exact_moments():
    """mu0 = 0.5, sigma0 = 2, n = 12, k = 8; seeds 201-204.

    E[M_k] = mu0; E[(M_k - mu0)^2] = (sigma0^2 / n) sum_{j<k} c^j with c = (n-1)/d (the
    expected variance is multiplied by c each generation; c = 1 for the unbiased divisor);
    log Sigma_k^2 = log sigma0^2 + sum of k i.i.d. log(Q/d), Q ~ chi2_{n-1}, so its mean is
    log sigma0^2 + k (psi((n-1)/2) + log(2/d)) and its variance k psi'((n-1)/2).
    A missing or doubled 1/sqrt(n) in the mean step multiplies E[(M_k - mu0)^2] by n or 1/n;
    a mean step scaled by 1.03 moves it by 6%, about 13 s.e. (a mutant checked by hand); a wrong divisor d moves the mean of
    log Sigma_k^2 by k |log(d'/d)| = 0.7, hundreds of s.e.
    """
    mu0, s0, n, k = 0.5, 2.0, 12, 8
    metrics = ["mu_mean", "mean_shift_sq_mean", "log_sigma2_mean", "log_sigma2_var"]
    seed = 201
    for estimator, d in (("unbiased", n - 1), ("ml", n)):
        c = (n - 1) / d
        want = {
            "mu_mean": mu0,
            "mean_shift_sq_mean": s0**2 / n * sum(c**j for j in range(k)),
            "log_sigma2_mean": math.log(s0**2)
            + k * (special.digamma((n - 1) / 2) + math.log(2 / d)),
            "log_sigma2_var": k * special.polygamma(1, (n - 1) / 2),
        }
        for method in ("exact", "naive"):
            got = _last(
                "gaussian", {"mu": mu0, "sigma": s0}, n, k, method, seed, metrics,
                estimator=estimator,
            )
            seed += 1
            for name in metrics:
                value, se = got[name]
                assert_z(value, want[name], se, comparisons=16, what=f"{estimator} {method} {name}")


def test_bernoulli_and_poisson_paths_match_exact_moments():
    """Bernoulli p0 = 0.3, n = 40, k = 6: E[P_k] = p0, Var[P_k] = p0 (1 - p0) (1 - (1 - 1/n)^k)
    (the Wright-Fisher heterozygosity recursion). Poisson lambda0 = 1.5, n = 20, k = 6:
    E[Lambda_k] = lambda0, Var[Lambda_k] = k lambda0 / n (each generation adds lambda/n in
    expectation). Seeds 211-214. A binomial drawn with size n - 1 biases the mean by 2.5%
    of p0 (about 100 s.e.); Poisson(lambda) instead of Poisson(n lambda) / n multiplies the
    variance by n."""
    seed = 211
    p0, n, k = 0.3, 40, 6
    want = {"p_mean": p0, "p_var": p0 * (1 - p0) * (1 - (1 - 1 / n) ** k)}
    for method in ("exact", "naive"):
        got = _last("bernoulli", {"p": p0}, n, k, method, seed, list(want))
        seed += 1
        for name, w in want.items():
            assert_z(*_vz(got[name], w), comparisons=8, what=f"bernoulli {method} {name}")
    lam0, n = 1.5, 20
    want = {"lambda_mean": lam0, "lambda_var": k * lam0 / n}
    for method in ("exact", "naive"):
        got = _last("poisson", {"lambda": lam0}, n, k, method, seed, list(want))
        seed += 1
        for name, w in want.items():
            assert_z(*_vz(got[name], w), comparisons=8, what=f"poisson {method} {name}")


def _vz(got: tuple[float, float], want: float) -> tuple[float, float, float]:
    return got[0], want, got[1]


def test_categorical_paths_match_exact_moments():
    """Counts (1, 2, 3, 0, 10, 4), n = 20, k = 5; seeds 221-222. E[uniq_k] = sum_i Pr(C_{i,k} >
    0), each term from the binomial chain's transition matrix (tests/conftest.py);
    E[1 - sum_i P_{k,i}^2] = (1 - 1/n)^k (1 - sum_i p_i^2). uniq_k lies in [1, 5], so its s.d. is
    at most 2 and its s.e. at most 0.0045: any bias of E[uniq_k] above 0.03 fails (a dead
    symbol coming back, or a lost one, changes it by far more)."""
    counts = np.array([1, 2, 3, 0, 10, 4])
    n, k = int(counts.sum()), 5
    p = counts / n
    want = {
        "uniq_mean": float(sum(binomial_chain_survival(n, int(c), [k])[0] for c in counts)),
        "gini_simpson_mean": (1 - 1 / n) ** k * (1 - float(p @ p)),
    }
    for seed, method in ((221, "exact"), (222, "naive")):
        got = _last("categorical", {"counts": counts}, n, k, method, seed, list(want))
        for name, w in want.items():
            assert_z(*_vz(got[name], w), comparisons=4, what=f"categorical {method} {name}")
