"""Workflows and schedules against their exact answers.

Statistical tests: fixed seeds; each test function's false-failure rate is 1e-4, split over its
comparisons (Bonferroni, conftest.assert_z). Power: with 40,000 trials the standard error of
Var[P_k] is about 1% of its value, while using the wrong pool (e.g. the last generation's sample
only) changes it by a factor of k.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.families import Gaussian
from modelcollapse.pools import CountPool
from modelcollapse.seeding import block_generator
from modelcollapse.theory.bernoulli import bernoulli_survival
from modelcollapse.theory.workflows import (
    accumulate_mean_limit,
    bernoulli_survival_schedule,
    bernoulli_variance,
    gaussian_moments,
    gini_simpson,
)
from modelcollapse.workflows import Schedule, WorkflowRun

from conftest import ALPHA, assert_z

T = 40_000
G = 12
CASES = [
    ("replace", None),
    ("accumulate", None),
    ("accumulate-subsample", None),
    ("mix", 0.25),
    ("mix-fixed", 0.25),
]


@pytest.mark.parametrize(("workflow", "lam"), CASES)
def test_bernoulli_variance_matches_exact_recursion(workflow, lam):
    r = simulate(
        "bernoulli",
        params={"p": 0.3},
        n=16,
        generations=G,
        trials=T,
        seed=41,
        workflow=workflow,
        real_fraction=lam,
        metrics=["p_mean", "p_var"],
    )
    _, var, se = r.metric("p_var")
    exact = bernoulli_variance(0.3, 16, G, workflow, lam)
    assert_z(var[1:], exact[1:], se[1:], 2 * G, f"{workflow} Var[P_k]")
    _, mean, se_mean = r.metric("p_mean")
    assert_z(mean[1:], 0.3, se_mean[1:], 2 * G, f"{workflow} E[P_k]")


@pytest.mark.parametrize(("workflow", "lam"), [c for c in CASES if c[0] != "accumulate-subsample"])
def test_gaussian_moments_match_exact_recursion(workflow, lam):
    for estimator in ("unbiased", "ml"):
        r = simulate(
            "gaussian",
            params={"mu": 1.0, "sigma": 2.0},
            estimator=estimator,
            n=8,
            generations=G,
            trials=T,
            seed=42,
            workflow=workflow,
            real_fraction=lam,
            metrics=["mean_shift_sq_mean", "sigma2_mean"],
        )
        m, s = gaussian_moments(2.0, 8, G, workflow, lam, estimator)
        _, shift, se = r.metric("mean_shift_sq_mean")
        assert_z(shift[1:], m[1:], se[1:], 4 * G, f"{workflow} {estimator} E[(M-mu0)^2]")
        _, sig2, se2 = r.metric("sigma2_mean")
        assert_z(sig2[1:], s[1:], se2[1:], 4 * G, f"{workflow} {estimator} E[Sigma^2]")


def test_accumulate_bounds_the_mean_error_and_replace_does_not():
    # The known results: under accumulate E[(M_k - mu0)^2] stays near (pi^2/6) sigma0^2 / n; under
    # replace (unbiased variance) it is exactly k sigma0^2 / n.
    n, k = 10, 200
    m_acc, _ = gaussian_moments(1.0, n, k, "accumulate")
    m_rep, _ = gaussian_moments(1.0, n, k, "replace")
    np.testing.assert_allclose(m_rep, np.arange(k + 1) / n, rtol=1e-12)
    assert m_acc[-1] < accumulate_mean_limit(1.0, n) * 1.001
    assert m_acc[-1] > 0.9 * accumulate_mean_limit(1.0, n)


def test_categorical_gini_simpson_under_workflows():
    counts = [6, 4, 3, 2, 1]
    p = np.array(counts) / 16
    for workflow, lam in CASES:
        r = simulate(
            "categorical",
            params={"counts": counts},
            n=16,
            generations=G,
            trials=20_000,
            seed=43,
            workflow=workflow,
            real_fraction=lam,
            metrics=["gini_simpson_mean"],
        )
        _, gs, se = r.metric("gini_simpson_mean")
        assert_z(
            gs[1:], gini_simpson(p, 16, G, workflow, lam)[1:], se[1:], len(CASES) * G, workflow
        )


def test_real_fraction_is_exact():
    n = 10
    expected = {
        "replace": [1.0] + [0.0] * (G - 1),
        "accumulate": [1 / k for k in range(1, G + 1)],
        "mix": [1.0] + [0.3] * (G - 1),
        "mix-fixed": [1.0] + [0.3] * (G - 1),
    }
    for workflow, values in expected.items():
        lam = 0.3 if workflow.startswith("mix") else None
        metrics = ["p_mean"] if workflow == "replace" else ["real_fraction"]
        r = simulate(
            "bernoulli",
            params={"p": 0.5},
            n=n,
            generations=G,
            trials=100,
            seed=44,
            workflow=workflow,
            real_fraction=lam,
            metrics=metrics,
        )
        if workflow == "replace":
            assert "real_fraction" not in set(r.summary["metric"].tolist())
            continue
        _, share, se = r.metric("real_fraction")
        np.testing.assert_allclose(share[1:], values, rtol=0, atol=1e-12)
        assert np.all(se[1:] == 0)
    # accumulate-subsample: random per trial, with mean exactly N_real / N_k = 1/k.
    r = simulate(
        "categorical",
        params={"counts": [3, 3, 4]},
        n=n,
        generations=G,
        trials=20_000,
        seed=45,
        workflow="accumulate-subsample",
        metrics=["real_fraction"],
    )
    _, share, se = r.metric("real_fraction")
    assert share[1] == 1.0
    assert_z(share[2:], 1 / np.arange(2, G + 1), se[2:], G - 1, "subsample real share")


def test_count_pool_subsample_is_multivariate_hypergeometric():
    # Our category-by-category chain against numpy's multivariate_hypergeometric, drawn one
    # trial at a time: chi-square homogeneity of the first category's count (and the second's).
    colours = np.array([7, 0, 5, 9, 3])
    trials, take = 20_000, 11
    rng = block_generator(46, 0)
    ours = CountPool(np.tile(colours, (trials, 1))).subsample(np.full(trials, take), rng).counts
    assert (ours.sum(axis=1) == take).all() and (ours <= colours).all()
    ref = np.stack([rng.multivariate_hypergeometric(colours, take) for _ in range(trials)])
    for j in (0, 3):
        a = np.bincount(ours[:, j], minlength=12)
        b = np.bincount(ref[:, j], minlength=12)
        keep = (a + b) > 0
        p = stats.chi2_contingency(np.stack([a[keep], b[keep]]))[1]
        assert p > ALPHA / 2, f"category {j}: p = {p:.2e}"


def test_pooled_path_equals_sample_path_in_distribution():
    # The exact pools (sufficient statistics) against the sample path (raw samples kept), for the
    # Gaussian under accumulate: KS on the mean and the log-variance after 6 generations.
    fam = Gaussian(mu=0.0, sigma=1.0)
    sizes = Schedule("constant", 6).sizes(6)
    finals = []
    for samples, seed in ((False, 47), (True, 48)):
        rng = block_generator(seed, 0)
        run = WorkflowRun(fam, "accumulate", 0.0, sizes, "exact", 20_000)
        run.samples = samples
        state = fam.initial_state(20_000)
        for k in range(1, 7):
            state, _ = run.step(state, k, rng)
        finals.append(state)
    for field in ("mu", "log_sigma2"):
        p = stats.ks_2samp(getattr(finals[0], field), getattr(finals[1], field)).pvalue
        assert p > ALPHA / 2, f"{field}: KS p = {p:.2e}"


def test_exact_and_naive_pools_agree_for_accumulate():
    a = simulate(
        "bernoulli",
        params={"p": 0.2},
        n=12,
        generations=6,
        trials=20_000,
        seed=49,
        workflow="accumulate",
        trajectories=True,
        metrics=["p_mean"],
    )
    b = simulate(
        "bernoulli",
        params={"p": 0.2},
        n=12,
        generations=6,
        trials=20_000,
        seed=50,
        workflow="accumulate",
        method="naive",
        trajectories=True,
        metrics=["p_mean"],
    )
    pa = a.trajectories["p"][a.trajectories["generation"] == 6]
    pb = b.trajectories["p"][b.trajectories["generation"] == 6]
    values = np.union1d(pa, pb)
    table = np.stack(
        [
            np.searchsorted(values, pa)[:, None] == np.arange(len(values)),
            np.searchsorted(values, pb)[:, None] == np.arange(len(values)),
        ]
    ).sum(axis=1)
    keep = table.sum(axis=0) >= 10
    pooled = np.concatenate([table[:, keep], table[:, ~keep].sum(axis=1, keepdims=True)], axis=1)
    assert stats.chi2_contingency(pooled[:, pooled.sum(axis=0) > 0])[1] > ALPHA


def test_growing_schedule_keeps_a_symbol_alive_as_theory_says():
    # A symbol seen once in n0 = 10: with constant n it is lost for sure; with n_k = 10 * 1.5^k
    # its survival levels off, at the value the schedule's exact chain gives.
    schedule = Schedule.parse("geometric:r=1.5", 10)
    sizes = schedule.sizes(10)
    r = simulate(
        "bernoulli",
        params={"p": 0.1},
        n=10,
        generations=10,
        trials=T,
        seed=51,
        schedule="geometric:r=1.5",
        metrics=["survival"],
    )
    _, surv, se = r.metric("survival")
    exact = bernoulli_survival_schedule(0.1, sizes[1:], 10)
    assert_z(surv[1:], exact[1:], np.sqrt(exact[1:] * (1 - exact[1:]) / T), 10, "schedule")
    constant = bernoulli_survival(0.1, 10, np.arange(11))
    np.testing.assert_allclose(
        bernoulli_survival_schedule(0.1, [10] * 10, 10), constant, rtol=1e-10, atol=1e-12
    )
    assert exact[-1] > 0.55 and constant[-1] < 0.2


def test_schedules_parse_and_reject():
    assert Schedule.parse("linear:a=5", 10).sizes(3).tolist() == [10, 15, 20, 25]
    assert Schedule.parse("geometric:r=2", 3).sizes(3).tolist() == [3, 6, 12, 24]
    assert Schedule.parse("power:a=2", 3).sizes(3).tolist() == [3, 3, 12, 27]
    assert Schedule.parse([4, 5, 6], 3).sizes(3).tolist() == [3, 4, 5, 6]
    assert Schedule.parse({"kind": "linear", "a": 1}, 2).sizes(2).tolist() == [2, 3, 4]
    for bad in (
        "linear",
        "linear:b=2",
        "cubic:a=1",
        "geometric:r=-1",
        "list:",
        "list:3,0",
        "power:a=x",
    ):
        with pytest.raises(ConfigError):
            Schedule.parse(bad, 10).sizes(3)
    with pytest.raises(ConfigError, match="one size per generation"):
        Schedule.parse([4, 5], 3).sizes(3)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--workflow", "recycle"], "workflow"),
        (["--workflow", "mix"], "real_fraction"),
        (["--workflow", "mix", "--real-fraction", "1.5"], "real_fraction"),
        (["--workflow", "accumulate", "--real-fraction", "0.5"], "real_fraction"),
        (["--schedule", "geometric:r=0"], "schedule r"),
        (["--schedule", "wobbly"], "schedule"),
        (
            ["--workflow", "mix-fixed", "--real-fraction", "0.5", "--schedule", "linear:a=2"],
            "schedule",
        ),
    ],
)
def test_cli_rejects_bad_workflows(tmp_path, args, field):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--family",
            "bernoulli",
            "--n",
            "10",
            "--generations",
            "3",
            "--trials",
            "5",
            "--seed",
            "1",
            *args,
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 2, res.output
    assert f"Error: invalid {field}" in res.output
    assert not out.exists()


def test_workflows_for_families_without_pools_are_refused():
    # Every built-in family now has pools or a sample path; a user family with neither (or with
    # pools but no sample path, for accumulate-subsample) is refused before any work.
    from dataclasses import dataclass
    from typing import ClassVar

    from modelcollapse.families.base import Family

    @dataclass(frozen=True)
    class Neither(Gaussian):
        has_pools: ClassVar[bool] = False
        sample = Family.sample

    @dataclass(frozen=True)
    class PoolsOnly(Gaussian):
        sample = Family.sample

    for fam, workflow in ((Neither(), "accumulate"), (PoolsOnly(), "accumulate-subsample")):
        with pytest.raises(ConfigError, match="workflow"):
            simulate(fam, n=10, generations=2, trials=4, seed=1, workflow=workflow)
    simulate(PoolsOnly(), n=10, generations=2, trials=4, seed=1, workflow="accumulate")
    # The same request on a family with pools runs, with the accumulate share 1/k of real data.
    r = simulate(
        "bernoulli",
        params={"p": 0.5},
        n=10,
        generations=2,
        trials=4,
        seed=1,
        workflow="accumulate",
        metrics=["real_fraction"],
    )
    assert r.metric("real_fraction")[1].tolist() == [1.0, 1.0, 0.5]


def test_mix_stationary_values_are_the_recursions_limits():
    from modelcollapse.theory.workflows import bernoulli_mix_stationary, mix_stationary

    for lam, estimator in ((0.1, "unbiased"), (0.5, "ml"), (1.0, "unbiased")):
        m, s = gaussian_moments(1.5, 10, 2000, "mix", lam, estimator)
        m_star, s_star = mix_stationary(1.5, 10, lam, estimator)
        np.testing.assert_allclose([m[-1], s[-1]], [m_star, s_star], rtol=1e-9)
        v = bernoulli_variance(0.3, 10, 2000, "mix", lam)
        np.testing.assert_allclose(v[-1], bernoulli_mix_stationary(0.3, 10, lam), rtol=1e-9)
    with pytest.raises(ConfigError):
        mix_stationary(1.0, 10, 0.0)
