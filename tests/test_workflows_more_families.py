"""Workflows for the multivariate Gaussian (exact pools and the sample path) and the sample-path
workflows of the mixtures (mixture2, gmm).

Statistical tests follow tests/conftest.py: each test function states its seeds, has a total
false-failure rate of at most 1e-4 (Bonferroni over its comparisons, conftest.assert_z) and says
what its sample size detects. Two independent simulations are compared with the z statistic of
their difference, se = sqrt(se_a^2 + se_b^2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import psi

from modelcollapse import simulate
from modelcollapse.families import GMM, Mixture2, MVGaussian
from modelcollapse.seeding import block_generator
from modelcollapse.theory import mvgaussian as mv_theory
from modelcollapse.theory.workflows import gaussian_moments
from modelcollapse.workflows import Schedule, WorkflowRun

from conftest import ALPHA, assert_z, z_bound

COV = [[1.0, 0.6], [0.6, 2.0]]
MEAN = [1.0, -0.5]
WORKFLOWS = [
    ("replace", None),
    ("accumulate", None),
    ("accumulate-subsample", None),
    ("mix", 0.25),
    ("mix-fixed", 0.25),
]
POOLED = [c for c in WORKFLOWS if c[0] != "accumulate-subsample"]


def _moments(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def _run_flow(fam, workflow, lam, n, generations, trials, seed, samples):
    """Model G of ``trials`` trials through WorkflowRun, on the pooled (samples=False) or the
    sample path. Replace goes through the pools too (draw_pool then fit_pool), which the engine
    never does (it calls ``step``), so that the pooled replace is checked as well."""
    rng = block_generator(seed, 0)
    state = fam.initial_state(trials)
    if workflow == "replace":
        for _ in range(generations):
            if samples:
                state = fam.fit_samples(fam.sample(state, n, rng))
            else:
                state = fam.fit_pool(fam.draw_pool(state, n, rng, "exact"))
        return state
    run = WorkflowRun(fam, workflow, lam or 0.0, Schedule("constant", n).sizes(generations),
                      "exact", trials)
    run.samples = samples
    for k in range(1, generations + 1):
        state, _ = run.step(state, k, rng)
    return state


@pytest.mark.parametrize(("workflow", "lam"), POOLED)
def test_mvgaussian_pooled_path_matches_sample_path(workflow, lam):
    """Exact pools (Bartlett draws, Chan merges of factored scatters) against raw samples kept and
    refitted, d = 2, n = 6, after G = 6 generations, 20,000 trials each (seeds 61 and 62).
    z-tests on E and Var of logdet_ratio and on E of trace_ratio and mean_shift_sq: 4 comparisons
    at 1e-4 in all (|z| <= 4.21). Power: a difference of two means has se = sqrt(2 / 20000) sd
    = 0.01 sd (sd of logdet_ratio 1.2 to 2.6 here), so a shift of 0.055 sd is caught nine times in
    ten; dropping the between term of the merge gave z = 29 (accumulate) to 137 (mix) on
    E[logdet_ratio], a wrong weight in the merged mean z = 36 (mix-fixed), when tried."""
    fam = MVGaussian(mean=MEAN, cov=COV)
    trials, n, g = 20_000, 6, 6
    finals = [
        fam.observe(_run_flow(fam, workflow, lam, n, g, trials, seed, samples))
        for samples, seed in ((False, 61), (True, 62))
    ]
    observed, se = [], []
    for row in range(3):
        a, b = finals[0][row], finals[1][row]
        (ma, sa), (mb, sb) = _moments(a), _moments(b)
        observed.append(ma - mb)
        se.append(math.hypot(sa, sb))
    # Var of logdet_ratio: se of a sample variance from the fourth central moment.
    var_se = []
    for x in (finals[0][0], finals[1][0]):
        c = x - x.mean()
        var_se.append((x.var(ddof=1), math.sqrt(((c**4).mean() - x.var() ** 2) / x.size)))
    observed.append(var_se[0][0] - var_se[1][0])
    se.append(math.hypot(var_se[0][1], var_se[1][1]))
    assert_z(observed, np.zeros(4), se, 4, f"{workflow}: pooled - sample path")


@pytest.mark.parametrize(("workflow", "lam"), POOLED)
def test_mvgaussian_first_moments_match_the_one_dimensional_recursion(workflow, lam):
    """Exact answers for every pooled workflow. Each generation's conditional expectations are
    linear in E[Sigma] and E[(M - mu0)(M - mu0)^T] (and, for mix-fixed, in the cross moment with
    the real sample's mean), with the same coefficients as the one-dimensional recursion of
    ``gaussian_moments``, and every such matrix starts at a multiple of Sigma_0. So, exactly,
    E[Sigma_k] = s_k Sigma_0 and E[(M_k - mu0)(M_k - mu0)^T] = m_k Sigma_0 with (m_k, s_k) the
    one-dimensional moments for sigma0 = 1: E[trace_ratio] = s_k, E[mean_shift_sq] = m_k tr Sigma_0.
    20,000 trials (seed 63), n = 8, G = 8, both estimators: 2 metrics x 8 generations x 2
    estimators = 32 comparisons at 1e-4 in all (|z| <= 4.6). Power: se is under 1% of
    E[trace_ratio], so a 5% error is caught; the (n - 1) / n factor between the estimators is
    12.5% per generation, and a merge without its between term gave z = 43 to 189 when tried."""
    g, n = 8, 8
    trace0 = float(np.trace(COV))
    for estimator in ("unbiased", "ml"):
        r = simulate(
            "mvgaussian",
            params={"mean": MEAN, "cov": COV},
            estimator=estimator,
            n=n,
            generations=g,
            trials=20_000,
            seed=63,
            workflow=workflow,
            real_fraction=lam,
            metrics=["trace_ratio_mean", "mean_shift_sq_mean"],
        )
        m, s = gaussian_moments(1.0, n, g, workflow, lam, estimator)
        _, tr, tr_se = r.metric("trace_ratio_mean")
        _, shift, shift_se = r.metric("mean_shift_sq_mean")
        assert_z(tr[1:], s[1:], tr_se[1:], 4 * g, f"{workflow} {estimator} E[trace_ratio]")
        assert_z(shift[1:], m[1:] * trace0, shift_se[1:], 4 * g,
                 f"{workflow} {estimator} E[mean_shift_sq]")


@pytest.mark.parametrize(("workflow", "lam"), WORKFLOWS)
def test_mvgaussian_in_one_dimension_is_the_gaussian_family(workflow, lam):
    """d = 1: the same law as the ``gaussian`` family under every workflow (accumulate-subsample
    on both families' sample paths, the others on both families' pools): logdet_ratio =
    log Sigma^2 - log sigma0^2, trace_ratio = Sigma^2 / sigma0^2, mean_shift_sq the same.
    20,000 trials each (seeds 64, 65), n = 5, G = 8: 3 metrics x 8 generations = 24 comparisons
    at 1e-4 in all. Power: the se of a difference of E[log Sigma^2] is at most ~0.023 here (under
    replace; smaller with real data), so a wrong degree of freedom in one generation's draw
    (E log chi2_4 - E log chi2_3 = 0.39) is caught at z ~ 17."""
    g, sigma = 8, 1.5
    kw = dict(n=5, generations=g, trials=20_000, workflow=workflow, real_fraction=lam)
    mv = simulate(
        "mvgaussian",
        params={"mean": [0.5], "cov": [[sigma**2]]},
        seed=64,
        metrics=["logdet_ratio_mean", "trace_ratio_mean", "mean_shift_sq_mean"],
        **kw,
    )
    ga = simulate(
        "gaussian",
        params={"mu": 0.5, "sigma": sigma},
        seed=65,
        metrics=["log_sigma2_mean", "sigma2_mean", "mean_shift_sq_mean"],
        **kw,
    )
    pairs = [
        ("logdet_ratio_mean", "log_sigma2_mean", 2 * math.log(sigma), 1.0),
        ("trace_ratio_mean", "sigma2_mean", 0.0, sigma**-2),
        ("mean_shift_sq_mean", "mean_shift_sq_mean", 0.0, 1.0),
    ]
    for mv_name, ga_name, offset, factor in pairs:
        _, a, sa = mv.metric(mv_name)
        _, b, sb = ga.metric(ga_name)
        b, sb = (b[1:] - offset) * factor, sb[1:] * factor
        assert_z(a[1:] - b, np.zeros(g), np.hypot(sa[1:], sb), 3 * g, f"{workflow} {mv_name}")


def test_accumulate_keeps_log_det_bounded_and_replace_does_not():
    """Kazdan et al., "Collapse or Thrive": under accumulate E[log det Sigma_k] stays bounded, under
    replace it falls linearly. d = 2, n = 10, k = 50, unbiased covariance.

    Exact statements used: (1) the replace mean is k kappa_1 (theory.mvgaussian: -18.2 at k = 50);
    (2) under accumulate the pool's scatter is the real sample's scatter W_1 plus positive
    semi-definite terms (Chan's merge), so log det Sigma_k >= log det W_1 - d log(N_k - 1) with
    N_k = k n and E log det W_1 = log det Sigma_0 + sum_i (psi((n - i)/2) + log 2): a floor of order
    -d log k (-8.4 at k = 50), above replace's mean from k = 18 on; (3) Jensen and
    E[Sigma_k] = s_k Sigma_0 (the test above) give E[logdet_ratio] <= d log s_k (-0.13 at k = 50).
    No closed form for E[log det Sigma_k] under accumulate is known to us, so the pooled mean at
    k = 50 (10,000 trials, seed 66) is compared with a naive simulation, the sample path (2,000
    trials, seed 67: the raw 500 points per trial kept and refitted), and checked against both
    bounds: 3 comparisons at 1e-4 in all. Power: sd of logdet_ratio is 0.88 at k = 50, so the se
    of the difference is 0.022 and a bias of 0.12 (a seventh of an sd) is caught; an accumulate
    that drifted like replace would sit 10 below the floor."""
    n, k, d = 10, 50, 2
    fam = MVGaussian(mean=MEAN, cov=COV)
    pooled = fam.observe(_run_flow(fam, "accumulate", None, n, k, 10_000, 66, False))[0]
    naive = fam.observe(_run_flow(fam, "accumulate", None, n, k, 2_000, 67, True))[0]
    (mp, sp), (ms, ss) = _moments(pooled), _moments(naive)
    z = z_bound(3)
    assert abs(mp - ms) <= z * math.hypot(sp, ss), (mp, ms, sp, ss)

    half = (n - np.arange(1, d + 1)) / 2.0
    lower = float(np.sum(psi(half) + math.log(2.0))) - d * math.log(k * n - 1)
    _, s_k = gaussian_moments(1.0, n, k, "accumulate")
    upper = d * math.log(s_k[-1])
    replace_mean = float(mv_theory.logdet_mean(k, n, d))
    assert replace_mean < lower - 5.0  # replace has drifted far below accumulate's floor
    # one-sided: each bound at 1e-4 / 3 (z_bound is two-sided, so it is conservative here)
    assert mp >= lower - z * sp, (mp, lower)
    assert mp <= upper + z * sp, (mp, upper)


@pytest.mark.parametrize("estimator", ["joint-ml", "approx-ml", "joint-ml-paper"])
def test_mixture2_sample_path_replace_reproduces_step_naive(estimator):
    """Replace through ``sample`` + ``fit_samples`` (raw samples, standardised by the pool's
    largest |y|) against ``simulate``'s replace (``step_naive``, drawn in units of the current s):
    the same law. 10,000 trials each (seeds 68 and simulate's 69), n = 10, G = 8: E[mu] and E[S]
    at every generation, 16 comparisons at 1e-4 in all (|z| <= 4.52). Power: se of a difference
    of E[S_k] is ~0.008 against a one-generation decrease of E[S] of 0.05 to 0.1, so scaling back
    by a wrong power of the scale (z = 8 to 15 when tried) or fitting the unfolded sample (z = 183) is
    caught."""
    g, n, trials = 8, 10, 4_000
    fam = Mixture2(mu=1.0, sigma=1.0, estimator=estimator)
    rng = block_generator(68, 0)
    state = fam.initial_state(trials)
    mine = {"mu": [], "sigma": []}
    for _ in range(g):
        state = fam.fit_samples(fam.sample(state, n, rng))
        mine["mu"].append(_moments(state.mu))
        mine["sigma"].append(_moments(np.exp(0.5 * state.log_s2)))
    ref = simulate(
        "mixture2",
        params={"mu": 1.0, "sigma": 1.0},
        estimator=estimator,
        n=n,
        generations=g,
        trials=trials,
        seed=69,
        metrics=["mu_mean", "sigma_mean"],
    )
    for name in ("mu", "sigma"):
        _, value, se = ref.metric(f"{name}_mean")
        ours = np.array(mine[name])
        assert_z(ours[:, 0] - value[1:], np.zeros(g), np.hypot(ours[:, 1], se[1:]), 2 * g,
                 f"{estimator} {name}")


def test_gmm_sample_path_replace_reproduces_step_naive():
    """The same check for the gmm family (EM, k-means initialisation): 3,000 trials each (seeds 70,
    71), n = 20, G = 4, E[l2_dist] and E[std0] per generation: 8 comparisons at 1e-4 in all.
    Power: se of the difference of E[l2_dist] is 0.004 to 0.009 against a per-generation growth
    of ~0.08, so fitting one generation's data wrongly is caught."""
    g, n, trials = 4, 20, 1_500
    fam = GMM()
    rng = block_generator(70, 0)
    state = fam.initial_state(trials)
    mine = {"l2_dist": [], "std0": []}
    for _ in range(g):
        state = fam.refit_samples(fam.sample(state, n, rng), state, rng)
        mine["l2_dist"].append(_moments(fam.l2_distance(state)))
        mine["std0"].append(_moments(np.sqrt(state.covs[:, 0, 0, 0])))
    ref = simulate("gmm", n=n, generations=g, trials=trials, seed=71,
                   metrics=["l2_dist_mean", "std0_mean"])
    for name in ("l2_dist", "std0"):
        _, value, se = ref.metric(f"{name}_mean")
        ours = np.array(mine[name])
        assert_z(ours[:, 0] - value[1:], np.zeros(g), np.hypot(ours[:, 1], se[1:]), 2 * g, f"gmm {name}")


@pytest.mark.parametrize("estimator", ["joint-ml", "approx-ml"])
def test_mixture2_accumulate_keeps_s_away_from_zero(estimator):
    """Theorem 4 of Suresh et al. (approx-ml): under replace S_k -> 0 at least geometrically
    (Pr(S_k > eps) <= (sigma_0 / eps) exp(-k / (4n))); accumulating keeps the real sample in
    every fit, so S_k should stay of order sigma_0. Claim tested: E[S_30] under accumulate is more
    than ten times its value under replace (n = 5; measured: 0.70 and 0.54 against 0.003 for
    joint-ml and approx-ml). 1,000 trials per run (seeds 72, 73), one one-sided z-test of
    E_acc - 10 E_rep > 0 at 1e-4. Power: the se of that difference is ~0.01 while it is ~0.5
    when accumulate works; an accumulate that collapsed like replace would give -9 E_rep < 0."""
    kw = dict(params={"mu": 1.0, "sigma": 1.0}, estimator=estimator, n=5, generations=30,
              trials=1_000, metrics=["sigma_mean"])
    acc = simulate("mixture2", seed=72, workflow="accumulate", **kw)
    rep = simulate("mixture2", seed=73, **kw)
    _, a, sa = acc.metric("sigma_mean")
    _, r, sr = rep.metric("sigma_mean")
    diff, se = a[-1] - 10 * r[-1], math.hypot(sa[-1], 10 * sr[-1])
    assert diff > stats.norm.isf(ALPHA) * se, (a[-1], r[-1], se)


def test_mixtures_run_every_sample_path_workflow():
    """Every workflow runs for both mixtures (sizes and shares as the workflow says). Not a
    statistical test: real_fraction is a deterministic function of the schedule."""
    for family, params, n in (("mixture2", {"mu": 1.0}, 6), ("gmm", {"means": [[-1, 0], [1, 0]]}, 8)):
        for workflow, lam in WORKFLOWS[1:]:
            r = simulate(family, params=params, n=n, generations=3, trials=50, seed=74,
                         workflow=workflow, real_fraction=lam, metrics=["real_fraction"])
            _, share, _ = r.metric("real_fraction")
            if workflow == "accumulate":
                np.testing.assert_allclose(share[1:], [1.0, 0.5, 1 / 3])
            elif workflow.startswith("mix"):
                np.testing.assert_allclose(share[1:], [1.0, round(lam * n) / n, round(lam * n) / n])
            else:
                assert share[1] == 1.0 and 0 <= share[3] <= 1


def test_pools_work_far_below_the_float_range():
    """The factored pools never form Sigma, so a covariance far below 1e-308 stays exact.
    (a) d = 2, mix with lambda = 0 (a fresh synthetic pool every generation: the law of replace),
    n = 4, 1500 generations, 300 trials (seed 75): E[logdet_ratio] = k kappa_1 exactly
    (theory.mvgaussian; -2027 at k = 1500, i.e. Sigma's entries near e^-1000), at k = 750 and 1500.
    (b) d = 1, mix-fixed with lambda = 0.25 (one fixed real point and three synthetic ones, which
    collapse onto it: log Sigma^2 near -870 after 1000 generations), against the gaussian family's
    log-space pools, 300 trials each (seeds 76, 77), at k = 250, 500, 1000. 5 comparisons at 1e-4
    in all. Power: se is ~3 at the last generation, so a per-generation bias of 0.01 in log det
    (a tenth of a percent of one step's drift) is caught; an overflow or underflow gives inf or
    NaN, which fails every comparison."""
    k = 1500
    r = simulate(
        "mvgaussian",
        params={"mean": MEAN, "cov": COV},
        n=4,
        generations=k,
        trials=300,
        seed=75,
        workflow="mix",
        real_fraction=0.0,
        metrics=["logdet_ratio_mean"],
    )
    _, v, se = r.metric("logdet_ratio_mean")
    at = [k // 2, k]
    assert_z(v[at], mv_theory.logdet_mean(np.array(at), 4, 2), se[at], 5, "mix, lambda = 0")

    kw = dict(n=4, generations=1000, trials=300, workflow="mix-fixed", real_fraction=0.25)
    mv = simulate("mvgaussian", params={"mean": [0.5], "cov": [[1.0]]}, seed=76,
                  metrics=["logdet_ratio_mean"], **kw)
    ga = simulate("gaussian", params={"mu": 0.5, "sigma": 1.0}, seed=77,
                  metrics=["log_sigma2_mean"], **kw)
    _, a, sa = mv.metric("logdet_ratio_mean")
    _, b, sb = ga.metric("log_sigma2_mean")
    at = [250, 500, 1000]
    assert b[1000] < -700  # far below the float range, as the docstring says
    assert_z(a[at] - b[at], np.zeros(3), np.hypot(sa[at], sb[at]), 5, "mix-fixed, d = 1")


def test_scatter_pool_merge_is_the_pool_of_the_concatenated_samples():
    """Chan's merge on factored scatters, against the scatter of all points formed directly
    (deterministic: agreement to rounding, 1e-12 relative). Sizes include pools of n <= d points
    (singular scatters), and the same points scaled by 1e-200 give the same factor with
    log-diagonals shifted by exactly log(1e-200): the merge and the raw-sample fit never square
    a number that could leave the float range. A trial whose points coincide gets a -inf
    log-diagonal instead of stopping the batch."""
    fam = MVGaussian(mean=[0.0, 0.0, 0.0])
    rng = np.random.default_rng(78)
    base = rng.standard_normal((50, 3, 3)) * [1.0, 3.0, 0.2]
    parts = [rng.standard_normal((50, size, 3)) @ base + rng.standard_normal((50, 1, 3))
             for size in (1, 2, 7, 3)]

    def merged(scale):
        pool = fam.pool_of(parts[0] * scale)
        for part in parts[1:]:
            pool = pool + fam.pool_of(part * scale)
        return pool

    pool = merged(1.0)
    points = np.concatenate(parts, axis=1)
    dev = points - points.mean(axis=1, keepdims=True)
    scatter = dev.transpose(0, 2, 1) @ dev
    factor = pool.unit * np.exp(pool.log_diag)[:, None, :]
    np.testing.assert_allclose(factor @ factor.transpose(0, 2, 1), scatter, rtol=1e-12,
                               atol=1e-12 * np.abs(scatter).max())
    np.testing.assert_allclose(pool.mean, points.mean(axis=1), rtol=1e-12, atol=1e-12)
    assert (pool.size == points.shape[1]).all()
    tiny = merged(1e-200)
    np.testing.assert_allclose(tiny.log_diag - math.log(1e-200), pool.log_diag, rtol=0,
                               atol=1e-10)
    np.testing.assert_allclose(tiny.unit, pool.unit, rtol=1e-10, atol=1e-12)
    same = points.copy()
    same[7] = 2.5
    degenerate = fam.pool_of(same)
    assert np.all(degenerate.log_diag[7] == -np.inf)
    np.testing.assert_allclose(degenerate.log_diag[:7], fam.pool_of(points[:7]).log_diag,
                               rtol=0, atol=1e-12)
