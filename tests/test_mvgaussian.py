"""Multivariate Gaussian: the Bartlett/Wishart exact step against the naive sample covariance,
and the exact law of log det Sigma_k (theory module) against simulation.

Statistical tests follow tests/conftest.py: fixed seeds, per-test false-failure rate <= 1e-4
(Bonferroni across comparisons), each says why its sample size catches a real bug.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats
from scipy.special import psi

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.families.mvgaussian import MVGaussian
from modelcollapse.theory import mvgaussian as theory

from conftest import assert_z
from sweep_helpers import finite_part

ROOT = Path(__file__).resolve().parents[1]
COV = [[1.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 2.0]]
MEAN = [1.0, -1.0, 0.0]


def _params(fam, state):
    full = state.unit * np.exp(state.log_diag)[:, None, :]
    cov = full @ full.transpose(0, 2, 1)
    return state.mean, cov


def test_wishart_step_matches_naive_sample_covariance_in_distribution():
    """Two generations from a correlated 3-D start, n = 6 (small, so the Wishart law is far from
    normal). 20,000 trials each path; two-sample KS tests on 6 statistics x 2 generations
    (Bonferroni: each at 1e-4 / 12). A wrong Bartlett degree of freedom (chi2_{n-i+1}) shifts
    E log det by ~0.2 against a spread of ~1.2, i.e. a KS distance ~0.07, over 4 times the
    critical value (~0.016) at these sizes."""
    fam = MVGaussian(mean=MEAN, cov=COV)
    trials, n = 20_000, 6
    out = {}
    for method in ("exact", "naive"):
        rng = np.random.default_rng(1 if method == "exact" else 2)
        state = fam.initial_state(trials)
        stats_by_gen = []
        for _ in range(2):
            state = fam.step(state, n, rng, method)
            mean, cov = _params(fam, state)
            stats_by_gen.append(
                [
                    fam.logdet(state),
                    np.trace(cov, axis1=1, axis2=2),
                    cov[:, 1, 0],
                    cov[:, 2, 1],
                    mean[:, 0],
                    mean[:, 2],
                ]
            )
        out[method] = stats_by_gen
    for g in range(2):
        for a, b in zip(out["exact"][g], out["naive"][g], strict=True):
            assert stats.ks_2samp(a, b).pvalue > 1e-4 / 12


def test_bartlett_factor_matches_scipy_wishart():
    """One step's scatter (n - 1) Sigma_1 against scipy.stats.wishart draws; 20,000 each, KS on
    log det and two entries (Bonferroni 3 ways)."""
    fam = MVGaussian(mean=MEAN, cov=COV)
    n, trials = 5, 20_000
    state = fam.step_exact(fam.initial_state(trials), n, np.random.default_rng(3))
    _, cov = _params(fam, state)
    w_ours = cov * (n - 1)
    w_ref = stats.wishart(df=n - 1, scale=np.array(COV)).rvs(trials, random_state=4)
    for f in (lambda w: np.linalg.slogdet(w)[1], lambda w: w[:, 0, 0], lambda w: w[:, 2, 1]):
        assert stats.ks_2samp(f(w_ours), f(w_ref)).pvalue > 1e-4 / 3


@pytest.mark.parametrize("estimator", ["unbiased", "ml"])
def test_logdet_mean_and_variance_match_theory(estimator):
    """E and Var of log det Sigma_k at k = 5, 20, 50 against the digamma/trigamma formulas;
    mean of trace ratio and of the squared mean shift at the same k against their exact
    expectations. 20,000 trials: the mean's standard error is ~0.05 at k = 50 while a wrong
    divisor or degree of freedom moves it by k * O(0.1) = 5, so power is overwhelming.
    12 comparisons share 1e-4 (Bonferroni)."""
    n, d, ks = 8, 3, np.array([5, 20, 50])
    res = simulate(
        "mvgaussian",
        params={"mean": MEAN, "cov": COV},
        estimator=estimator,
        n=n,
        generations=50,
        trials=20_000,
        seed=5,
    )
    g, m, se = res.metric("logdet_ratio_mean")
    assert_z(m[ks], theory.logdet_mean(ks, n, d, estimator), se[ks], 12, "E log det")
    g, v, sev = res.metric("logdet_ratio_var")
    assert_z(v[ks], theory.logdet_var(ks, n, d), sev[ks], 12, "Var log det")
    tr0 = float(np.trace(np.array(COV)))
    # trace ratio and mean shift are heavy tailed at large k: check k = 5 only, where the
    # standard error is reliable
    g, t, set_ = res.metric("trace_ratio_mean")
    assert_z(t[5], theory.trace_mean(5, n, tr0, estimator, d) / tr0, set_[5], 12, "trace")
    g, s, ses = res.metric("mean_shift_sq_mean")
    assert_z(s[5], theory.mean_shift_sq_mean(5, n, tr0, estimator, d), ses[5], 12, "shift")


def test_theory_reduces_to_the_one_dimensional_formulas():
    """d = 1: E[log Sigma_k^2] = log sigma0^2 + k (psi((n-1)/2) + log(2/D)) (SPEC.md section 3),
    and the drift -0.1152 (unbiased) / -0.2206 (ml) per generation at n = 10 (section 6)."""
    n = 10
    assert theory.logdet_mean(1, n, 1, "unbiased")[()] == pytest.approx(-0.1152, abs=1e-4)
    assert theory.logdet_mean(1, n, 1, "ml")[()] == pytest.approx(-0.2206, abs=1e-4)
    assert theory.logdet_mean(7, n, 1, "ml", logdet0=2.0)[()] == pytest.approx(
        2.0 + 7 * (psi(4.5) + math.log(2 / 10))
    )
    c = theory.logdet_step_cumulants(n, 2, "unbiased", 4)
    assert len(c) == 4 and c[1] > 0 and c[2] < 0 and c[3] > 0
    with pytest.raises(ConfigError, match="invalid n"):
        theory.logdet_mean(1, 3, 3)


def test_long_horizon_in_log_space():
    """5000 generations at n = 5, d = 2: det Sigma falls to exp(-4000) and below, far beyond
    float range; log det stays exact (matches the theory within 5 standard deviations of the
    mean over 200 trials: sd = sqrt(k psi'/200))."""
    n, d, k = 5, 2, 5000
    res = simulate(
        "mvgaussian",
        params={"mean": [0, 0]},
        n=n,
        generations=k,
        trials=200,
        seed=6,
        record_every=1000,
        eps=[1e-3],
    )
    assert np.all(np.isfinite(finite_part(res.summary)))
    _, m, _ = res.metric("logdet_ratio_mean")
    sd = math.sqrt(theory.logdet_var(k, n, d)[()] / 200)
    assert abs(m[-1] - theory.logdet_mean(k, n, d)[()]) < 5 * sd
    assert m[-1] < -1000
    _, p, _ = res.metric("sigma_above[eps=0.001]")
    assert p[-1] == 0.0


def test_one_dimensional_case_matches_gaussian_family():
    kw = dict(n=10, generations=30, trials=4000, seed=7)
    mv = simulate("mvgaussian", params={"mean": [0.0], "cov": [[4.0]]}, **kw)
    ga = simulate("gaussian", params={"mu": 0.0, "sigma": 2.0}, **kw)
    _, a, sa = mv.metric("logdet_ratio_mean")
    _, b, sb = ga.metric("log_sigma2_mean")
    assert_z(a[-1], b[-1] - math.log(4.0), math.hypot(sa[-1], sb[-1]), 1, "1-D")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mean": [0, 0], "cov": [[1, 2], [2, 1]]}, "cov"),
        ({"mean": [0, 0], "cov": [[1, 0.5], [0.4, 1]]}, "cov"),
        ({"mean": [0, 0], "cov": [[1, 0, 0]]}, "cov"),
        ({"mean": [0, float("inf")]}, "mean"),
        ({"mean": []}, "mean"),
        ({"mean": [0, 0], "estimator": "mle"}, "estimator"),
        ({"mean": [0, 0], "eps": (0.0,)}, "eps"),
    ],
)
def test_bad_parameters(kwargs, field):
    with pytest.raises(ConfigError, match=f"invalid {field}"):
        MVGaussian(**kwargs)


def test_cli_and_toml(tmp_path):
    base = [
        "simulate",
        "--family",
        "mvgaussian",
        "--param",
        "mean=0,0,0",
        "--generations",
        "3",
        "--trials",
        "10",
        "--seed",
        "1",
    ]
    ok = CliRunner().invoke(cli, [*base, "--n", "5", "--method", "naive"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(cli, [*base, "--n", "3", "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "invalid n" in bad.output
    assert not (tmp_path / "o").exists()
    from modelcollapse.config import load_toml

    cfg = load_toml(ROOT / "docs" / "configs" / "mvgaussian.toml")
    small = cfg.model_copy(update={"trials": 10, "generations": 3})
    res = simulate(small.build_family(), **small.simulate_kwargs())
    assert np.all(np.isfinite(finite_part(res.summary)))
