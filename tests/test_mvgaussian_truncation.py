"""Truncation psi for the multivariate Gaussian: samples N(M, psi^2 Sigma) on every draw.

Statistical tests follow conftest's rule: a fixed seed, a total false-failure rate <= 1e-4 per
test split over its comparisons (Bonferroni), and a sample size chosen so a real bug (psi
skipped, psi applied instead of psi^2, or applied to generation 1's real data) moves the
statistic by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.families.mvgaussian import MVGaussian, MVGaussianState
from modelcollapse.samplers import Curation, Truncation
from modelcollapse.theory import mvgaussian as theory

from conftest import assert_z, z_bound

# A non-isotropic start, so a psi applied to the wrong factor (the unit triangle, one axis)
# would not pass for a scalar multiple.
COV = [[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 0.5]]
MEAN = [0.0, 1.0, -2.0]
PARAMS = {"mean": MEAN, "cov": COV}
D = 3
LOGDET0 = float(np.linalg.slogdet(COV)[1])
TRACE0 = float(np.trace(COV))


def test_exact_and_naive_against_theory():
    # Seed 8 (exact) and 9 (naive). Each path against the exact E[log det ratio], E[tr ratio]
    # and E|M_k - M_0|^2 (theory.truncation_*) at k = 1..4, and the two paths against each
    # other at k = 4: 24 + 3 comparisons. Sample size: one generation's log det increment has
    # sd sqrt(sum_i psi'((n-i)/2)) = 0.93 for n = 10, d = 3, so 20000 trials give a standard
    # error of about 0.013 at k = 4, while psi = 0.8 moves E[log det] by 2 d ln psi = -1.34 per
    # truncated generation (psi instead of psi^2: half that; psi on generation 1: -1.34 at k =
    # 1): each bug is >= 50 standard errors.
    n, psi, trials, ks = 10, 0.8, 20000, np.arange(5)
    expected = {
        "logdet_ratio_mean": theory.truncation_logdet_mean(ks, n, D, psi),
        "trace_ratio_mean": theory.truncation_trace_mean(ks, n, 1.0, psi, d=D),
        "mean_shift_sq_mean": theory.truncation_mean_shift_sq_mean(ks, n, TRACE0, psi, d=D),
    }
    comparisons = 2 * 3 * 4 + 3
    runs = {}
    for method, seed in (("exact", 8), ("naive", 9)):
        runs[method] = simulate(
            "mvgaussian", params=PARAMS, n=n, generations=4, trials=trials, seed=seed,
            method=method, sampler=Truncation(psi), metrics=list(expected),
        )
        for metric, want in expected.items():
            _, v, se = runs[method].metric(metric)
            assert_z(v[1:], want[1:], se[1:], comparisons, f"{method} {metric}")
    for metric in expected:
        _, ve, se = runs["exact"].metric(metric)
        _, vn, sn = runs["naive"].metric(metric)
        z = abs(ve[-1] - vn[-1]) / math.hypot(se[-1], sn[-1])
        assert z <= z_bound(comparisons), (metric, z)


def test_theory_reduces_to_the_untruncated_and_scalar_laws():
    # psi = 1 is the untruncated law; d = 1 is the scalar Gaussian's truncation theory.
    from modelcollapse.theory import sampling

    ks = np.arange(7)
    for est in ("unbiased", "ml"):
        np.testing.assert_allclose(theory.truncation_logdet_mean(ks, 12, 3, 1.0, est, -0.4),
                                   theory.logdet_mean(ks, 12, 3, est, -0.4), rtol=0, atol=1e-12)
        np.testing.assert_allclose(theory.truncation_trace_mean(ks, 12, 2.5, 1.0, est, 3),
                                   theory.trace_mean(ks, 12, 2.5, est, 3), rtol=1e-14)
        np.testing.assert_allclose(theory.truncation_mean_shift_sq_mean(ks, 12, 2.5, 1.0, est, 3),
                                   theory.mean_shift_sq_mean(ks, 12, 2.5, est, 3), rtol=1e-12)
        np.testing.assert_allclose(
            theory.truncation_logdet_mean(ks, 12, 1, 0.7, est, math.log(4.0)),
            sampling.truncation_expected_log_variance(2.0, 12, ks, 0.7, est), rtol=1e-12)
        np.testing.assert_allclose(theory.truncation_trace_mean(ks, 12, 4.0, 0.7, est, 1),
                                   sampling.truncation_expected_variance(2.0, 12, ks, 0.7, est),
                                   rtol=1e-12)
        np.testing.assert_allclose(
            theory.truncation_mean_shift_sq_mean(ks, 12, 4.0, 0.7, est, 1),
            sampling.truncation_mean_shift(2.0, 12, ks, 0.7, est), rtol=1e-12)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="invalid truncation"):
            theory.truncation_logdet_mean(ks, 12, 3, bad)


def _one_draw(fam: MVGaussian, state: MVGaussianState, n: int, how: str, seed: int):
    """(Sigma' = scatter / D as a state, the new mean) of one draw of n points, by ``how``."""
    rng = np.random.default_rng(seed)
    if how in ("step exact", "step naive"):
        out = fam.step(state, n, rng, how.split()[1])
        return out, out.mean
    if how == "sample":
        out = fam.fit_samples(fam.sample(state, n, rng))
        return out, out.mean
    pool = fam.draw_pool(state, n, rng, how.split()[1])
    return fam.fit_pool(pool), pool.mean


def test_every_draw_samples_the_truncated_law():
    # Seed 40 + i. One draw from a fixed model by each path (the steps, the pools the workflows
    # use, raw samples), against the law of the refit of n points of N(M, psi^2 Sigma):
    # E[tr Sigma'] = psi^2 (n-1)/D tr Sigma, E|M' - M|^2 = psi^2 tr Sigma / n and (n > d)
    # E[log det Sigma'] = log det Sigma + 2 d ln psi + kappa_1. With n = 3 <= d the pool is
    # drawn point by point (mix-fixed's few real points): trace and mean only, 5 * 3 + 2 = 17
    # comparisons. 20000 trials: the trace's relative standard error is about 0.003 and the
    # log det's standard error 0.007, while psi = 0.8 moves them by 36% and 1.34.
    psi, trials = 0.8, 20000
    fam = MVGaussian(mean=MEAN, cov=COV).with_sampler(Truncation(psi))
    state = fam.initial_state(trials)
    cases = [("step exact", 10), ("step naive", 10), ("sample", 10), ("pool exact", 10),
             ("pool naive", 10), ("pool exact", 3)]
    comparisons = 5 * 3 + 2
    for i, (how, n) in enumerate(cases):
        fitted, mean = _one_draw(fam, state, n, how, 40 + i)
        divisor = fam.divisor(n)
        trace = np.exp(fam.log_trace(fitted))
        shift = ((mean - np.asarray(MEAN)) ** 2).sum(axis=1)
        what = f"{how}, n={n}"
        assert_z(trace.mean(), psi**2 * (n - 1) / divisor * TRACE0,
                 trace.std(ddof=1) / math.sqrt(trials), comparisons, f"{what} trace")
        assert_z(shift.mean(), psi**2 * TRACE0 / n, shift.std(ddof=1) / math.sqrt(trials),
                 comparisons, f"{what} mean")
        if n > D:
            logdet = fam.logdet(fitted)
            want = LOGDET0 + 2 * D * math.log(psi) + theory.logdet_step_cumulants(n, D)[0]
            assert_z(logdet.mean(), want, logdet.std(ddof=1) / math.sqrt(trials),
                     comparisons, f"{what} log det")


@pytest.mark.parametrize(
    ("workflow", "real_fraction"),
    [("accumulate", None), ("accumulate-subsample", None), ("mix", 0.5), ("mix-fixed", 0.5)],
)
def test_workflow_pools_match_the_sample_path(workflow, real_fraction):
    # Seeds 30 and 31. Each workflow on its own path (pools; raw samples for
    # accumulate-subsample) and on the sample path (a curation that keeps every candidate forces
    # it), both truncated: the same law, compared by a two-sample z on the mean log det ratio
    # and trace ratio at generation 5 (2 comparisons). 8000 trials: at psi = 0.7 a path that
    # skipped the stage differs by 2 d ln psi = -2.1 in E[log det] per synthetic generation,
    # against a two-sample standard error below 0.05.
    kw = {"params": PARAMS, "n": 10, "generations": 5, "trials": 8000, "workflow": workflow,
          "real_fraction": real_fraction, "metrics": ["logdet_ratio_mean", "trace_ratio_mean"]}
    own = simulate("mvgaussian", seed=30, sampler=Truncation(0.7), **kw)
    raw = simulate("mvgaussian", seed=31,
                   sampler=[Truncation(0.7), Curation(lambda x: x[..., 0] * 0, fraction=1.0)],
                   **kw)
    for metric in ("logdet_ratio_mean", "trace_ratio_mean"):
        _, a, sa = own.metric(metric)
        _, b, sb = raw.metric(metric)
        z = abs(a[-1] - b[-1]) / math.hypot(sa[-1], sb[-1])
        assert z <= z_bound(2), (workflow, metric, z)


_RUNS = [
    {"method": "exact"},
    {"method": "naive"},
    {"workflow": "accumulate"},
    {"workflow": "accumulate-subsample"},
    {"workflow": "mix", "real_fraction": 0.3},
]


@pytest.mark.parametrize("extra", _RUNS)
def test_psi_one_is_bit_for_bit_the_plain_run(extra):
    kw = {"params": PARAMS, "n": 8, "generations": 5, "trials": 200, "seed": 5, **extra}
    plain = simulate("mvgaussian", **kw)
    assert simulate("mvgaussian", sampler=Truncation(1.0), **kw).summary.equals(plain.summary)


@pytest.mark.parametrize("extra", _RUNS)
def test_generation_one_trains_on_real_data(extra):
    # Generation 1 draws from the real (generation-0) model untruncated: one generation with
    # psi = 0.7 is bit for bit the plain one, on the same stream; mix with real_fraction = 1
    # trains every generation on real data, so the whole run is; and psi acts from generation
    # 2 on (a run of 3 generations differs).
    kw = {"params": PARAMS, "n": 8, "trials": 200, "seed": 12, **extra}
    stage = Truncation(0.7)
    one = {**kw, "generations": 1}
    assert simulate("mvgaussian", sampler=stage, **one).summary.equals(
        simulate("mvgaussian", **one).summary
    )
    three = {**kw, "generations": 3}
    assert not simulate("mvgaussian", sampler=stage, **three).summary.equals(
        simulate("mvgaussian", **three).summary
    )
    if "real_fraction" in extra:
        real = {**three, "real_fraction": 1.0}
        assert simulate("mvgaussian", sampler=stage, **real).summary.equals(
            simulate("mvgaussian", **real).summary
        )


BASE = ["simulate", "--family", "mvgaussian", "--param", "mean=0,0,0", "--n", "6",
        "--generations", "3", "--trials", "10", "--seed", "1"]


@pytest.mark.parametrize("value", ["0", "-0.5", "nan", "inf"])
def test_cli_rejects_bad_psi(tmp_path, value):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [*BASE, "--truncation", value, "--out", str(out)])
    assert result.exit_code == 2, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: invalid truncation:"), message
    assert "> 0" in message, "the message says what is allowed"
    assert list(tmp_path.iterdir()) == []


def test_cli_runs_a_truncated_mvgaussian(tmp_path):
    result = CliRunner().invoke(cli, [*BASE, "--truncation", "0.8", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "mvgaussian" in CliRunner().invoke(cli, ["simulate", "--help"]).output.split(
        "--truncation")[1].split("--")[0]
