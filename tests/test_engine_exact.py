"""The engine against exact answers computed independently here (SPEC.md section 3).

Each test: one seed, a Bonferroni-split false-failure rate of 1e-4 (see conftest.ALPHA), and a
sample size chosen so that the bug it guards against moves the statistic by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from modelcollapse import simulate

from conftest import assert_z, binomial_chain_survival

KS = [1, 2, 5, 10, 20, 40]


def _at(result, metric, ks):
    gens, values, errors = result.metric(metric)
    idx = np.searchsorted(gens, ks)
    return values[idx], errors[idx]


def _g(k: int) -> float:
    g = 1.0
    for _ in range(k - 1):
        g = -math.expm1(-g)
    return g


def test_poisson_survival_is_theorem_2():
    # Theorem 2 is exact: Pr(Lambda_k != 0) = 1 - exp(-n lambda0 g_k). 40,000 trials give a
    # standard error below 0.0025; an off-by-one in the generation index moves the survival at
    # k = 5 by about 0.03 (12 standard errors).
    n, lam = 10, 0.3
    r = simulate("poisson", params={"lambda": lam}, n=n, generations=40, trials=40_000, seed=11)
    sim, se = _at(r, "survival", KS)
    exact = np.array([1 - math.exp(-n * lam * _g(k)) for k in KS])
    assert_z(sim, exact, np.sqrt(exact * (1 - exact) / 40_000), len(KS), "poisson survival")


def test_poisson_mean_is_a_martingale():
    # E[Lambda_k] = lambda0 for every k; Var[Lambda_k] = k lambda0 / n.
    n, lam, T = 20, 2.0, 40_000
    r = simulate("poisson", params={"lambda": lam}, n=n, generations=20, trials=T, seed=12)
    ks = [1, 5, 20]
    mean, _ = _at(r, "lambda_mean", ks)
    assert_z(mean, lam, np.sqrt(np.array(ks) * lam / n / T), 2 * len(ks), "E[Lambda_k]")
    var, se_var = _at(r, "lambda_var", ks)
    assert_z(var, np.array(ks) * lam / n, se_var, 2 * len(ks), "Var[Lambda_k]")


def test_bernoulli_survival_matches_binomial_chain():
    # The Bernoulli recursion is the Wright-Fisher chain; its survival comes from powers of the
    # (n+1)x(n+1) transition matrix. 40,000 trials: standard error <= 0.0025, while an
    # off-by-one generation index moves the survival at k = 5 by about 0.05 and a step that
    # drifts p (e.g. dividing by n + 1) breaks the martingale E[P_k] = p0 by 10+ standard errors
    # by k = 40.
    n, c0, T = 30, 3, 40_000
    r = simulate("bernoulli", params={"p": c0 / n}, n=n, generations=40, trials=T, seed=13)
    exact = binomial_chain_survival(n, c0, KS)
    sim, _ = _at(r, "survival", KS)
    assert_z(sim, exact, np.sqrt(exact * (1 - exact) / T), 3 * len(KS), "Pr(P_k != 0)")
    # Both absorbing states: Pr(P_k not in {0,1}) = 1 - Pr(C_k = 0) - Pr(C_k = n), and
    # Pr(C_k = n | c0) = Pr(C_k = 0 | n - c0) by symmetry.
    nondeg = exact - (1 - binomial_chain_survival(n, n - c0, KS))
    sim_nd, _ = _at(r, "nondegenerate", KS)
    assert_z(sim_nd, nondeg, np.sqrt(nondeg * (1 - nondeg) / T), 3 * len(KS), "nondegenerate")
    # E[P_k] = p0 (martingale), Var[P_k] = p0 (1 - p0) (1 - (1 - 1/n)^k).
    p0 = c0 / n
    mean, _ = _at(r, "p_mean", KS)
    var_exact = p0 * (1 - p0) * (1 - (1 - 1 / n) ** np.array(KS))
    assert_z(mean, p0, np.sqrt(var_exact / T), 3 * len(KS), "E[P_k]")


def test_gaussian_log_variance_moments_both_estimators():
    # log Sigma_k^2 = log sigma0^2 + sum of k i.i.d. log(chi2_{n-1}/d): mean drift
    # psi((n-1)/2) + log(2/d) per generation, variance psi'((n-1)/2) per generation.
    # With 20,000 trials the mean's standard error at k = 40 is 0.03 while confusing the two
    # divisors (d = n vs n - 1) moves it by 40 log(10/9) = 4.2.
    n, T, sigma0 = 10, 20_000, 2.0
    ks = [1, 5, 20, 40]
    for estimator, d in (("unbiased", n - 1), ("ml", n)):
        r = simulate("gaussian", params={"mu": 1.0, "sigma": sigma0}, estimator=estimator, n=n,
                     generations=40, trials=T, seed=14)
        drift = special.digamma((n - 1) / 2) + math.log(2 / d)
        mean, se = _at(r, "log_sigma2_mean", ks)
        assert_z(mean, math.log(sigma0**2) + drift * np.array(ks), se, 4 * len(ks), estimator)
        var, se_var = _at(r, "log_sigma2_var", ks)
        assert_z(var, special.polygamma(1, (n - 1) / 2) * np.array(ks), se_var, 4 * len(ks),
                 f"{estimator} variance")
    # SPEC.md section 6: drift -0.1152 (unbiased) and -0.2206 (ML) at n = 10.
    assert round(special.digamma(4.5) + math.log(2 / 9), 4) == -0.1152
    assert round(special.digamma(4.5) + math.log(2 / 10), 4) == -0.2206


def test_gaussian_collapse_probability_k1_is_chi_square_tail():
    # Pr(Sigma_1 > eps) = Pr(chi2_{n-1} > d eps^2 / sigma0^2) exactly.
    n, T = 10, 40_000
    r = simulate("gaussian", params={"sigma": 1.0}, n=n, generations=1, trials=T, seed=15,
                 eps=[0.5, 0.8, 1.2])
    for e in (0.5, 0.8, 1.2):
        sim, _ = _at(r, f"sigma_above[eps={e:g}]", [1])
        exact = stats.chi2.sf((n - 1) * e * e, n - 1)
        assert_z(sim, exact, math.sqrt(exact * (1 - exact) / T), 3, f"eps={e}")


def test_categorical_uniq_matches_per_symbol_chains():
    # E[uniq_k] = sum_i Pr(C_{i,k} > 0), each symbol's count being a binomial chain.
    counts = np.array([1, 1, 2, 3, 5, 8])
    n = int(counts.sum())
    T = 20_000
    r = simulate("categorical", params={"counts": counts.tolist()}, n=n, generations=40,
                 trials=T, seed=16)
    exact = sum(binomial_chain_survival(n, int(c), KS) for c in counts)
    sim, se = _at(r, "uniq_mean", KS)
    assert_z(sim, exact, se, 2 * len(KS), "E[uniq_k]")
    frac, _ = _at(r, "uniq_frac", KS)
    np.testing.assert_allclose(frac, sim / len(counts), rtol=1e-12)


def test_gini_simpson_decays_by_one_minus_one_over_n():
    # E[1 - sum p_i^2] after one Wright-Fisher step is (1 - 1/n) times its value before.
    p = np.array([0.4, 0.3, 0.2, 0.1])
    n, T = 25, 20_000
    r = simulate("categorical", params={"p": p.tolist()}, n=n, generations=40, trials=T, seed=17)
    gs0 = 1 - float((p**2).sum())
    sim, se = _at(r, "gini_simpson_mean", KS)
    assert_z(sim, gs0 * (1 - 1 / n) ** np.array(KS), se, len(KS), "Gini-Simpson")
