"""Every distance-to-start metric and uniq_frac against values computed independently.

Two kinds of check. (1) Deterministic: a family's per-trial observable on a hand-made state,
against the definition written out here (KL of two Gaussians, total variation, ...). These
cannot fail by chance, and they catch a wrong constant (the Gaussian KL without its 1/2) or a
wrong denominator (uniq_frac over m instead of the symbols alive at the start) exactly.
(2) Statistical: E[metric at generation 1] from ``simulate`` against the exact expectation,
computed in the test by summing over the exact law of the one-generation statistic (binomial,
Poisson, multinomial enumeration) or by numerical integration (Gaussian W2), never by the
package. Each statistical test uses a fixed seed and a z-test whose false-failure rate is at
most 1e-4 per test (Bonferroni over its comparisons, tests/conftest.py); with 200,000 trials
the standard errors are about 1/450 of the metrics' standard deviations, so the mutants named
in each test move the mean by tens to hundreds of standard errors.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import integrate, special, stats

from modelcollapse import simulate
from modelcollapse.families import Bernoulli, Categorical, Gaussian, Poisson

from conftest import assert_z

TRIALS = 200_000


def _observed(family, state) -> dict[str, np.ndarray]:
    names = [o.name for o in family.observables()]
    return dict(zip(names, family.observe(state), strict=True))


def _gen1(family: str, params: dict, n: int, metrics: list[str], seed: int, **kw):
    r = simulate(
        family, params=params, n=n, generations=1, trials=TRIALS, seed=seed, metrics=metrics, **kw
    )
    out = {}
    for name in metrics:
        g, v, e = r.metric(name)
        out[name] = (float(v[g == 1][0]), float(e[g == 1][0]), float(v[g == 0][0]))
    return out


def _gauss_kl(m1, s1, m0, s0):
    """KL(N(m1, s1^2) || N(m0, s0^2)) = log(s0/s1) + (s1^2 + (m1 - m0)^2) / (2 s0^2) - 1/2."""
    return math.log(s0 / s1) + (s1**2 + (m1 - m0) ** 2) / (2 * s0**2) - 0.5


# -- deterministic ---------------------------------------------------------------------------
def test_gaussian_distances_on_a_fixed_state():
    fam = Gaussian(mu=0.5, sigma=2.0)
    mu = np.array([0.5, 1.5, -1.0, 0.5])
    sigma = np.array([2.0, 1.0, 3.0, 0.25])
    got = _observed(fam, type(fam.initial_state(1))(mu, np.log(sigma**2)))
    want_kl = [_gauss_kl(m, s, 0.5, 2.0) for m, s in zip(mu, sigma, strict=True)]
    want_w2 = [math.hypot(m - 0.5, s - 2.0) for m, s in zip(mu, sigma, strict=True)]
    np.testing.assert_allclose(got["kl_from_start"], want_kl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["w2_from_start"], want_w2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["mean_shift_sq"], (mu - 0.5) ** 2, rtol=1e-12)


def test_bernoulli_and_poisson_distances_on_a_fixed_state():
    p = np.array([0.0, 0.1, 0.3, 0.75, 1.0])
    got = _observed(Bernoulli(p=0.3), p)
    kl = [
        sum(a * math.log(a / b) for a, b in ((x, 0.3), (1 - x, 0.7)) if a > 0) for x in p.tolist()
    ]
    np.testing.assert_allclose(got["kl_from_start"], kl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["tv_from_start"], np.abs(p - 0.3), rtol=1e-12, atol=1e-15)

    lam = np.array([0.0, 0.5, 1.5, 4.0])
    got = _observed(Poisson(lam=1.5), lam)
    # KL(Poi(a) || Poi(b)) = a log(a/b) - a + b (0 log 0 = 0).
    kl = [(a * math.log(a / 1.5) if a > 0 else 0.0) - a + 1.5 for a in lam.tolist()]
    np.testing.assert_allclose(got["kl_from_start"], kl, rtol=1e-12, atol=1e-15)


def test_categorical_metrics_on_a_fixed_state_with_a_dead_symbol_at_the_start():
    start = np.array([5, 0, 3, 2])  # symbol 1 is dead from the start: 3 symbols alive
    fam = Categorical(counts=start)
    state = np.array([[5, 0, 3, 2], [10, 0, 0, 0], [2, 0, 4, 4]])
    got = _observed(fam, state)
    np.testing.assert_allclose(got["uniq_frac"], [1.0, 1 / 3, 1.0], rtol=1e-15)
    np.testing.assert_allclose(got["uniq"], [3, 1, 3])
    p0 = start / start.sum()
    for row, tv, kl in zip(state, got["tv_from_start"], got["kl_from_start"], strict=True):
        p = row / row.sum()
        assert math.isclose(tv, 0.5 * sum(abs(a - b) for a, b in zip(p, p0, strict=True)))
        want = sum(a * math.log(a / b) for a, b in zip(p, p0, strict=True) if a > 0)
        assert math.isclose(kl, want, rel_tol=1e-12, abs_tol=1e-15)


# -- statistical: generation 1 against its exact expectation -----------------------------------
def test_bernoulli_generation1_distances():
    """Seed 101. E over S ~ Bin(20, 0.3) of |S/n - p0| and KL(Ber(S/n) || Ber(p0)), summed
    exactly. Both metrics have s.d. below 0.3, so the s.e. is below 7e-4; a TV without its
    absolute value (mean 0) or a KL with swapped arguments (E = 0.11 against 0.054 here) is
    off by more than 50 s.e."""
    n, p0 = 20, 0.3
    s = np.arange(n + 1)
    w = stats.binom.pmf(s, n, p0)
    x = s / n
    tv = float(w @ np.abs(x - p0))
    kl = float(w @ (special.xlogy(x, x / p0) + special.xlogy(1 - x, (1 - x) / (1 - p0))))
    got = _gen1("bernoulli", {"p": p0}, n, ["tv_from_start_mean", "kl_from_start_mean"], 101)
    for name, want in (("tv_from_start_mean", tv), ("kl_from_start_mean", kl)):
        value, se, at0 = got[name]
        assert at0 == 0.0
        assert_z(value, want, se, comparisons=2, what=name)


def test_poisson_generation1_kl():
    """Seed 102. E over S ~ Poisson(n lambda0 = 15) of KL(Poi(S/n) || Poi(lambda0)), summed to
    S = 200 (tail below 1e-80). E = 0.05 with s.d. about 0.07, so the s.e. is about 1.6e-4: a
    KL in bits (factor 1.44) is 140 s.e. off. (Dropping the ``- a + b`` terms leaves the mean
    unchanged, since E[Lambda_1] = lambda0; the fixed-state test above catches that one.)"""
    n, lam0 = 10, 1.5
    s = np.arange(201)
    w = stats.poisson.pmf(s, n * lam0)
    a = s / n
    kl = float(w @ (special.xlogy(a, a / lam0) - a + lam0))
    value, se, at0 = _gen1("poisson", {"lambda": lam0}, n, ["kl_from_start_mean"], 102)[
        "kl_from_start_mean"
    ]
    assert at0 == 0.0
    assert_z(value, kl, se, comparisons=1, what="poisson kl_from_start_mean")


def test_categorical_generation1_with_a_dead_symbol_at_the_start():
    """Seed 103. Start counts (5, 0, 3, 2), n = 10: E[uniq_1]/3, E[TV] and E[KL] by enumerating
    all 66 outcomes of Multinomial(10, (0.5, 0.3, 0.2)). uniq_frac over m = 4 instead of the 3
    live symbols scales it by 3/4 (about 0.2 off, 10^3 s.e.); the s.d. of TV and KL are below
    0.2, so their s.e. is below 5e-4 against means of 0.1 and 0.06."""
    counts = np.array([5, 0, 3, 2])
    n = 10
    p = np.array([0.5, 0.3, 0.2])
    uniq = tv = kl = 0.0
    for a, b in itertools.product(range(n + 1), repeat=2):
        c = n - a - b
        if c < 0:
            continue
        x = np.array([a, b, c])
        w = stats.multinomial.pmf(x, n, p)
        q = x / n
        uniq += w * np.count_nonzero(x) / 3
        tv += w * 0.5 * np.abs(q - p).sum()
        kl += w * sum(qi * math.log(qi / pi) for qi, pi in zip(q, p, strict=True) if qi > 0)
    names = ["uniq_frac", "tv_from_start_mean", "kl_from_start_mean"]
    got = _gen1("categorical", {"counts": counts}, n, names, 103)
    assert got["uniq_frac"][2] == 1.0  # generation 0: every live symbol is alive
    for name, want in zip(names, (uniq, tv, kl), strict=True):
        value, se, _ = got[name]
        assert_z(value, want, se, comparisons=3, what=name)


def _gauss_w2_expectation(mu0: float, s0: float, n: int, d: int) -> float:
    """E sqrt((M_1 - mu0)^2 + (Sigma_1 - s0)^2) with M_1 - mu0 = s0 Z / sqrt(n), Sigma_1 =
    s0 sqrt(Q / d), Z ~ N(0, 1) independent of Q ~ chi2_{n-1}: a double integral."""
    chi2 = stats.chi2(n - 1)

    def inner(q: float) -> float:
        b = s0 * math.sqrt(q / d) - s0
        a = s0 / math.sqrt(n)
        f = lambda z: math.hypot(a * z, b) * stats.norm.pdf(z)  # noqa: E731
        return integrate.quad(f, -12, 12, epsabs=1e-13, limit=200)[0] * chi2.pdf(q)

    return integrate.quad(inner, 0, chi2.isf(1e-16), epsabs=1e-12, limit=200)[0]


def test_gaussian_generation1_distances():
    """Seed 104, mu0 = 0.5, sigma0 = 2, n = 8, both estimators.

    E[KL_1] = (1/2)(-E log(Sigma_1^2 / s0^2) + E[Sigma_1^2]/s0^2 + E[(M_1 - mu0)^2]/s0^2 - 1)
    with E log(Q/d) = psi((n-1)/2) + log(2/d), E[Q/d] = (n-1)/d and E[(M_1-mu0)^2] = s0^2/n.
    E[W2_1] by the double integral above. The KL is about 0.1 with s.d. about 0.2 (s.e. 5e-4):
    dropping its factor 1/2 doubles it (200 s.e.). W2 has s.d. about 0.5 (s.e. 1e-3) and mean
    0.8: a W2 on variances instead of standard deviations moves it by about 1.
    """
    mu0, s0, n = 0.5, 2.0, 8
    for estimator, d, seed in (("unbiased", n - 1, 104), ("ml", n, 105)):
        e_log = special.digamma((n - 1) / 2) + math.log(2 / d)
        kl = 0.5 * (-e_log + (n - 1) / d + 1 / n - 1)
        w2 = _gauss_w2_expectation(mu0, s0, n, d)
        names = ["kl_from_start_mean", "w2_from_start_mean", "mean_shift_sq_mean"]
        got = _gen1(
            "gaussian", {"mu": mu0, "sigma": s0}, n, names, seed, estimator=estimator
        )
        for name, want in zip(names, (kl, w2, s0**2 / n), strict=True):
            value, se, at0 = got[name]
            assert at0 == 0.0
            assert_z(value, want, se, comparisons=6, what=f"{estimator} {name}")
