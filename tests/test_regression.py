"""The regression family: bad input, exact step against sampled path, the test error against the
exact formulas (replace, accumulate, fixed design, ridge), the verifier.

Statistical tests: fixed seeds, total false-failure rate <= 1e-4 per test (Bonferroni over its
comparisons, conftest.assert_z). d = 5 and T = 20 rows: one generation's OLS error is
sigma^2 d/(T-d-1) = 0.357; the usual slips (d/(T-d) = 0.333, d/T = 0.25, a missing 1/j in the
accumulate sum) differ from it by >= 7%, while 20000 trials measure it to about 0.6%.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.families import Regression
from modelcollapse.samplers import Verifier
from modelcollapse.theory.regression import (
    regression_accumulate_limit,
    regression_error_given_design,
    regression_test_error,
    ridge_test_error_fixed,
)

from conftest import assert_z, z_bound

D, T = 5, 20


def _run(params=None, **kw):
    base = {"n": T, "generations": 4, "trials": 20000, "metrics": ["test_error_mean"]}
    base.update(kw)
    return simulate("regression", params={"d": D, **(params or {})}, **base)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"d": 0}, "d"),
        ({"d": 2.5}, "d"),
        ({"sigma": 0}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"design": "random"}, "design"),
        ({"w0": [1.0, 2.0]}, "w0"),
        ({"penalty": 1.0}, "penalty"),
        ({"design_seed": -1}, "design_seed"),
    ],
)
def test_bad_parameters(params, field):
    with pytest.raises(ConfigError, match=f"invalid {field}:"):
        simulate("regression", params={"d": 3, **params}, n=10, generations=1, trials=2, seed=0)


def test_bad_ridge_penalty_and_rows():
    with pytest.raises(ConfigError, match="invalid penalty: -1"):
        simulate("regression", params={"d": 3, "penalty": -1}, estimator="ridge", n=10,
                 generations=1, trials=2, seed=0)
    with pytest.raises(ConfigError, match="invalid n: 2"):
        simulate("regression", params={"d": 3}, n=2, generations=1, trials=2, seed=0)
    for rows in (D, D + 1):
        with pytest.raises(ConfigError, match=f"invalid rows: {rows}"):
            regression_test_error([1], d=D, rows=rows)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["simulate", "--family", "regression", "--param", "d=3", "--param", "penalty=-1",
          "--estimator", "ridge", "--n", "10", "--generations", "2", "--trials", "2",
          "--seed", "1"], "penalty"),
        (["simulate", "--family", "regression", "--param", "d=3", "--n", "10", "--generations",
          "2", "--trials", "2", "--seed", "1", "--verify-tol", "0"], "verifier tol"),
        (["theory", "regression", "--d", "5", "--rows", "6"], "rows"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, args, field):
    extra = ["--out", str(tmp_path / "out")] if args[0] == "simulate" else []
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: invalid {field}:")
    assert list(tmp_path.iterdir()) == []


# ---- exact step against the sampled path ---------------------------------------------------------
@pytest.mark.parametrize(
    ("design", "estimator", "workflow"),
    [
        ("fresh", "ols", "replace"),
        ("fresh", "ridge", "replace"),
        ("fixed", "ols", "accumulate"),
        ("fresh", "ridge", "accumulate"),
    ],
)
def test_exact_vs_naive(design, estimator, workflow):
    # Seeds 1 and 2 (independent streams for the two paths): two-sample z on the mean test
    # error and mean ||w||^2 at generations 1..4 (8 comparisons). 6000 trials: the standard
    # error is about 1.5% of the value, while a wrong Wishart degree of freedom (n - i + 1 for
    # n - i) or a missing noise factor changes it by >= 10%.
    kw = {"params": {"design": design, "penalty": 2.0 if estimator == "ridge" else None},
          "estimator": estimator, "workflow": workflow, "trials": 6000,
          "metrics": ["test_error_mean", "weight_norm2_mean"]}
    a = _run(seed=1, method="exact", **kw)
    b = _run(seed=2, method="naive", **kw)
    for metric in ("test_error_mean", "weight_norm2_mean"):
        _, va, sa = a.metric(metric)
        _, vb, sb = b.metric(metric)
        z = np.abs(va[1:] - vb[1:]) / np.hypot(sa[1:], sb[1:])
        assert np.all(z <= z_bound(8)), (metric, z)


# ---- against the exact formulas ----------------------------------------------------------------
@pytest.mark.parametrize("workflow", ["replace", "accumulate"])
def test_fresh_design_error_is_exact(workflow):
    # Seed 3 (replace) / 4 (accumulate): generations 1..4 against k sigma^2 d/(T-d-1) and
    # sigma^2 d sum 1/(j (jT - d - 1)) (4 comparisons, exact step).
    r = _run(seed=3 if workflow == "replace" else 4, workflow=workflow, params={"sigma": 1.5})
    k, v, se = r.metric("test_error_mean")
    want = regression_test_error(k, d=D, rows=T, sigma=1.5, workflow=workflow)
    assert_z(v[1:], want[1:], se[1:], 4, workflow)


def test_accumulate_on_the_sample_path_is_exact_too():
    # Seed 5: accumulate-subsample is not accumulate, so use accumulate with the naive path
    # (raw rows pooled through X^T X and X^T y of real samples): generations 1..4, 4 comparisons.
    r = _run(seed=5, workflow="accumulate", method="naive", trials=8000)
    k, v, se = r.metric("test_error_mean")
    assert_z(v[1:], regression_test_error(k, d=D, rows=T, workflow="accumulate")[1:], se[1:], 4,
             "accumulate naive")


@pytest.mark.parametrize("workflow", ["replace", "accumulate"])
def test_fixed_design_error_given_the_design(workflow):
    # Seed 6: the family's own fixed design X; E||delta_k||^2 = sigma^2 tr(G^-1) f_k and the
    # in-sample error sigma^2 (d/T) f_k, f_k = k or sum 1/j^2 (8 comparisons).
    r = _run(seed=6, workflow=workflow, params={"design": "fixed", "design_seed": 4},
             metrics=["test_error_mean", "design_error_mean"])
    fam = Regression(d=D, design="fixed", design_seed=4)
    gram = fam.fixed_design(T)[1]
    k, v, se = r.metric("test_error_mean")
    assert_z(v[1:], regression_error_given_design(k, gram, workflow=workflow)[1:], se[1:], 8,
             "test error")
    _, vd, sd = r.metric("design_error_mean")
    want = regression_error_given_design(k, gram, workflow=workflow, metric="design", rows=T)
    assert_z(vd[1:], want[1:], sd[1:], 8, "design error")


def test_ridge_on_a_fixed_design_is_exact():
    # Seed 7: ridge (lambda = 3) shrinks towards 0, so the error has a bias that grows with k;
    # the exact eigen-decomposition formula at k = 1..4 (4 comparisons).
    w0 = np.linspace(-1, 2, D)
    r = _run(seed=7, estimator="ridge", params={"design": "fixed", "penalty": 3.0,
                                                "w0": w0.tolist()})
    gram = Regression(d=D, design="fixed").fixed_design(T)[1]
    k, v, se = r.metric("test_error_mean")
    assert_z(v[1:], ridge_test_error_fixed(k, gram, w0, penalty=3.0)[1:], se[1:], 4, "ridge")


def test_accumulate_limit_and_bound():
    # Theory alone: the finite-T accumulate error is below sigma^2 d/(T-d-1) sum 1/j^2 and
    # tends to it as T grows; its supremum over k is pi^2/6 times one generation's error.
    k = np.arange(0, 400)
    exact = regression_test_error(k, d=D, rows=T, workflow="accumulate")
    bound = regression_test_error(k, d=D, rows=T, workflow="accumulate", design="fixed")
    assert np.all(exact <= bound + 1e-15) and np.all(np.diff(exact) > 0)
    limit = regression_accumulate_limit(d=D, rows=T)
    assert limit == pytest.approx(math.pi**2 / 6 * D / (T - D - 1), rel=1e-15)
    assert bound[-1] < limit and bound[-1] == pytest.approx(limit, rel=1e-2)
    big = regression_test_error([400], d=D, rows=10**6, workflow="accumulate")[0]
    assert big / regression_accumulate_limit(d=D, rows=10**6) == pytest.approx(1.0, rel=3e-3)


# ---- the verifier --------------------------------------------------------------------------------
def test_verifier_keeps_only_labels_near_the_truth():
    fam = Regression(d=D).with_sampler(Verifier(0.3))
    rows = fam.sample(np.full((50, D), 0.2), T, np.random.default_rng(0))
    resid = rows["y"] - rows["x"] @ Regression(d=D).w0
    assert rows.shape == (50, T) and np.all(np.abs(resid) <= 0.3)
    r = simulate("regression", params={"d": D}, n=T, generations=2, trials=50, seed=0,
                 sampler=Verifier(0.3))
    assert r.config["sampler"][-1]["curation"].startswith("verifier")


@pytest.mark.parametrize("workflow", ["accumulate-subsample", "mix", "mix-fixed"])
def test_every_workflow_runs_with_a_schedule(workflow):
    # Seed 8. Generation 1 trains on real data under every workflow, so its error is one OLS
    # generation's, sigma^2 d/(n_1 - d - 1) with n_1 = T + 5 (linear schedule); 1 comparison.
    lam = 0.5 if workflow.startswith("mix") else None
    schedule = None if workflow == "mix-fixed" else "linear:a=5"
    n1 = T if schedule is None else T + 5
    r = _run(seed=8, workflow=workflow, real_fraction=lam, schedule=schedule, trials=8000,
             generations=3)
    k, v, se = r.metric("test_error_mean")
    assert_z(v[1], float(regression_test_error(1, d=D, rows=n1)), se[1], 1, workflow)
    assert np.all(np.isfinite(v)) and v[-1] > 0


def test_verifier_first_generation_is_exact():
    # Seed 9. One verified step from the true model w0 (in a run, generation 1 trains on real
    # data, so the stage is checked on one step of the family from its known start): the labels
    # come from w0 itself, so the verifier keeps rows by their noise alone: the kept noise is
    # N(0, sigma^2) truncated to [-tol, tol], independent of the kept features, and the OLS error
    # is d/(T-d-1) times its variance v = sigma^2 (1 - 2 c phi(c) / (2 Phi(c) - 1)),
    # c = tol/sigma. 20000 trials measure it to about 1%; a filter on the wrong quantity (or
    # none) is off by >= 30% at tol = 1.
    from scipy import stats

    for tol in (0.5, 1.0):
        fam = Regression(d=D).with_sampler(Verifier(tol))
        state = fam.step(fam.initial_state(20000), T, np.random.default_rng(9), "naive")
        err = fam.observe(state, [0])[0]  # test_error = ||w_1 - w0||^2 per trial
        c = tol
        var = 1 - 2 * c * stats.norm.pdf(c) / (2 * stats.norm.cdf(c) - 1)
        se = err.std(ddof=1) / np.sqrt(err.size)
        assert_z(err.mean(), D / (T - D - 1) * var, se, 2, f"tol={tol}")
    # ...and in a run, generation 1 is the unverified error d/(T-d-1) sigma^2 (real data).
    r = simulate("regression", params={"d": D}, n=T, generations=1, trials=20000, seed=9,
                 sampler=Verifier(0.5), metrics=["test_error_mean"])
    _, v, se = r.metric("test_error_mean")
    assert_z(v[1], D / (T - D - 1), se[1], 1, "generation 1 on real data")
