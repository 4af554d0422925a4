"""The Gaussian's scale-only exact step (``Gaussian.observing``): a replace run that reads only
Sigma_k draws only the Gamma variate of each step. Same law as the full step, other draws.

Statistical checks use ALPHA (1e-4 per test, Bonferroni within a test) from conftest.
"""

from __future__ import annotations

import numpy as np

from modelcollapse import simulate
from modelcollapse.engine import Observer
from modelcollapse.families.gaussian import Gaussian
from modelcollapse.samplers import Truncation
from modelcollapse.theory.gaussian import expected_log_variance, expected_sigma
from modelcollapse.theory.sampling import truncation_expected_log_variance

from conftest import assert_z

KW = {"n": 20, "generations": 8, "trials": 20000, "seed": 31}


def test_observing_picks_the_scale_only_step():
    fam = Gaussian(eps=(0.5,))
    assert fam.observing(["sigma", "sigma_above[eps=0.5]"]).scale_only
    assert fam.observing([]).scale_only  # hitting times of Sigma_k < eps only
    assert not fam.observing(["sigma", "mu"]).scale_only
    assert not fam.observing(["mean_shift_sq"]).scale_only
    assert not fam.scale_only


def test_scale_only_has_the_exact_law():
    # Seed 31. E[Sigma_k] = sigma0 alpha^k and E[log Sigma_k^2] exactly, k = 1..8, on a run that
    # reads only the scale (so it takes the scale-only step): 16 comparisons. 20000 trials give
    # a standard error of about 0.0016 on E[Sigma_k] at n = 20, while a step that dropped the
    # Gamma's log-divisor or used the shape n/2 moves E[Sigma_8] by more than 0.03.
    r = simulate("gaussian", metrics=["sigma_mean", "log_sigma2_mean"], **KW)
    k, v, se = r.metric("sigma_mean")
    _, lv, lse = r.metric("log_sigma2_mean")
    assert_z(v[1:], expected_sigma(1.0, 20, k[1:]), se[1:], 16, "E[Sigma_k]")
    assert_z(lv[1:], expected_log_variance(1.0, 20, k[1:]), lse[1:], 16, "E[log Sigma_k^2]")


def test_scale_only_with_truncation_has_the_exact_law():
    # Seed 31. Truncation psi = 0.8 from generation 2 on: E[log Sigma_k^2] exactly (8
    # comparisons); psi moves it by 0.45 per generation against a standard error of ~0.01.
    r = simulate("gaussian", metrics=["log_sigma2_mean"], sampler=Truncation(0.8), **KW)
    k, v, se = r.metric("log_sigma2_mean")
    assert_z(v[1:], truncation_expected_log_variance(1.0, 20, k[1:], 0.8), se[1:], 8, "psi")


class _Count(Observer):
    """A user observer: whatever it reads, the loop cannot know, so the full step runs."""

    def start(self, run, block):
        return [0]

    def observe(self, acc, generation, state, share):
        acc[0] += 1


def test_the_full_step_runs_whenever_the_mean_may_be_read():
    # The mean asked for, trajectories, or a user observer: the full step, whose Sigma_k stream
    # is the same whichever of these runs it. (Summaries reduced with other rows beside them may
    # differ in the last bit, so "the same draws" is rtol 1e-12 and "other draws" is > 1e-6.)
    small = {"n": 20, "generations": 5, "trials": 300, "seed": 4}
    full = simulate("gaussian", metrics=["sigma_mean", "mu_mean"], **small).metric("sigma_mean")
    for extra in ({"trajectories": 3}, {"observers": [_Count()]}):
        got = simulate("gaussian", metrics=["sigma_mean"], **extra, **small).metric("sigma_mean")
        np.testing.assert_allclose(got[1], full[1], rtol=1e-12)
    only = simulate("gaussian", metrics=["sigma_mean"], **small).metric("sigma_mean")
    rel = np.abs(only[1][1:] / full[1][1:] - 1)
    assert rel.max() > 1e-6, "the scale-only run took the full step"
    # Hitting times of Sigma_k < eps read only the scale: the same stream as sigma_mean alone.
    hit = simulate("gaussian", eps=[0.5], metrics=["sigma_mean", "reached[sigma<0.5]"],
                   **small).metric("sigma_mean")
    np.testing.assert_allclose(hit[1], only[1], rtol=1e-12)


def test_scale_only_does_not_depend_on_workers():
    # 9000 trials: three blocks, folded in block order whichever thread ran them.
    kw = {"n": 20, "generations": 5, "trials": 9000, "seed": 8, "metrics": ["sigma_mean"]}
    one = simulate("gaussian", **kw).summary
    assert simulate("gaussian", workers=2, **kw).summary.equals(one)
