"""The summary's reductions (per-generation power sums, only as far as the kept metrics need,
indicators by counting) against the same statistics computed directly from the recorded
trajectories of the same run; default and "all" metric sets; hitting times of row states
(tested only on the trials still waiting) against the trajectories.

These compare our code with numpy on the very same draws, so the tolerances are rounding
tolerances (1e-9 relative), not statistical ones: no seed can make them fail by chance.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelcollapse import simulate


def _se_var(x: np.ndarray) -> float:
    # sqrt((mu4 - s^4 (n-3)/(n-1)) / n), the formula of Moments.stderr_of_variance.
    n = x.size
    s2 = x.var(ddof=1)
    mu4 = ((x - x.mean()) ** 4).mean()
    return float(np.sqrt(max(mu4 - s2 * s2 * (n - 3) / (n - 1), 0.0) / n))


@pytest.mark.parametrize("metrics", [["p_mean", "p_var", "survival"], ["survival", "p_mean"]])
def test_bernoulli_summary_matches_trajectories(metrics):
    # 10,000 trials span three blocks of 4,096, so block merging is exercised too.
    trials = 10_000
    r = simulate("bernoulli", params={"p": 0.1}, n=20, generations=12, trials=trials, seed=3,
                 metrics=metrics, trajectories=True)
    traj = r.trajectories
    for g in (0, 1, 5, 12):
        p = traj["p"].to_numpy()[traj["generation"].to_numpy() == g]
        alive = (p > 0).astype(float)
        expect = {
            "p_mean": (p.mean(), p.std(ddof=1) / np.sqrt(trials)),
            "p_var": (p.var(ddof=1), _se_var(p)),
            "survival": (alive.mean(), alive.std(ddof=1) / np.sqrt(trials)),
        }
        for m in metrics:
            gens, value, se = r.metric(m)
            i = int(np.searchsorted(gens, g))
            np.testing.assert_allclose([value[i], se[i]], expect[m], rtol=1e-9, atol=1e-15,
                                       err_msg=f"{m} at generation {g}")


def test_gaussian_summary_matches_trajectories_with_and_without_variances():
    trials = 9_000
    kw = dict(params={"sigma": 2.0}, n=5, generations=6, trials=trials, seed=4, eps=[1.0],
              trajectories=True)
    full = simulate("gaussian", metrics=["sigma_mean", "sigma_var", "sigma_above[eps=1]"], **kw)
    lean = simulate("gaussian", metrics=["sigma_mean"], **kw)
    traj = full.trajectories
    for g in (0, 3, 6):
        s = traj["sigma"].to_numpy()[traj["generation"].to_numpy() == g]
        above = (s > 1.0).astype(float)
        for res in (full, lean):
            gens, v, se = res.metric("sigma_mean")
            i = int(np.searchsorted(gens, g))
            np.testing.assert_allclose([v[i], se[i]], [s.mean(), s.std(ddof=1) / np.sqrt(trials)],
                                       rtol=1e-9, atol=1e-15)
        gens, v, se = full.metric("sigma_var")
        i = int(np.searchsorted(gens, g))
        np.testing.assert_allclose([v[i], se[i]], [s.var(ddof=1), _se_var(s)], rtol=1e-9,
                                   atol=1e-15)
        gens, v, _ = full.metric("sigma_above[eps=1]")
        assert v[int(np.searchsorted(gens, g))] == pytest.approx(above.mean(), rel=1e-12)


def test_default_and_all_metric_sets():
    kw = dict(n=10, generations=2, trials=50, seed=1)
    default = set(simulate("gaussian", **kw).summary["metric"])
    every = set(simulate("gaussian", metrics="all", **kw).summary["metric"])
    distances = {f"{o}_{s}" for o in ("mean_shift_sq", "w2_from_start", "kl_from_start")
                 for s in ("mean", "var")}
    assert distances <= every and not distances & default
    assert default | distances == every
    # Families whose every metric is cheap keep them all by default.
    assert set(simulate("poisson", **kw).summary["metric"]) == set(
        simulate("poisson", metrics=["all"], **kw).summary["metric"]
    )


def test_categorical_hitting_times_match_trajectories():
    # K = n = 12, every symbol held once; 300 trials run until all collapse. The hitting-time
    # observer tests only the trials still waiting once most have collapsed: its first-passage
    # generations must be exactly those read off the recorded number of live symbols.
    n, trials = 12, 300
    r = simulate("categorical", params={"p": [1.0 / n] * n}, n=n, generations=10_000,
                 trials=trials, seed=8, until="collapse", trajectories=True,
                 metrics=["time_to[total_collapse]_mean", "time_to[first_loss]_mean",
                          "time_to[total_collapse]_median"])
    traj = r.trajectories.sort_values(["trial", "generation"])
    uniq = traj["uniq"].to_numpy().reshape(trials, -1)
    gens = traj["generation"].to_numpy().reshape(trials, -1)[0]
    collapse = gens[np.argmax(uniq <= 1, axis=1)]
    loss = gens[np.argmax(uniq < n, axis=1)]
    assert np.all(uniq[:, -1] <= 1)
    summary = r.summary.set_index("metric")["value"]
    assert summary["time_to[total_collapse]_mean"] == pytest.approx(collapse.mean(), rel=1e-12)
    assert summary["time_to[first_loss]_mean"] == pytest.approx(loss.mean(), rel=1e-12)
    assert summary["time_to[total_collapse]_median"] == np.sort(collapse)[trials // 2 - 1]
