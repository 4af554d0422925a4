"""Plug-in models: protocol, sources, adapters, workflows, errors, executors and resumption.

These tests are deterministic (fixed seeds, exact comparisons between runs); the statistical
ones are in test_plugins_science.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from modelcollapse.cli import cli
from modelcollapse.engine import simulate
from modelcollapse.engine.executors import stored_trials
from modelcollapse.errors import ConfigError
from modelcollapse.models.kde import GaussianKDE
from modelcollapse.models.metrics import PluginMetrics
from modelcollapse.models.plugin import PluginError, PluginModel
from modelcollapse.models.sklearn import SklearnPlugin, gaussian_mixture, kernel_density
from modelcollapse.store import read_parquet

from plugin_helpers import Failing, GaussianML, normal_sampler

RUN = dict(n=20, generations=3, trials=6, seed=11)


def _plugin(**kw):
    kw.setdefault("model", GaussianML())
    kw.setdefault("reference_size", 50)
    return PluginModel(**kw)


def _per_trial(result) -> pd.DataFrame:
    return next(o for o in result.observers if isinstance(o, PluginMetrics)).frame()


# ---- the protocol and the metrics ---------------------------------------------------------


def test_plugin_run_reports_every_metric_with_stderr():
    res = simulate(_plugin(user_metrics={"mu": lambda f, real: f[0]}), **RUN)
    names = set(res.summary["metric"])
    assert names == {
        "heldout_loglik",
        "sample_mean",
        "sample_var",
        "energy_distance",
        "wasserstein1",
        "mu",
    }
    gens, values, se = res.metric("sample_var")
    assert list(gens) == [0, 1, 2, 3]
    assert np.all(np.isfinite(values)) and np.all(se > 0)
    # Generation 0 has no fitted model: model-based metrics are NaN there, and only there.
    _, ll, _ = res.metric("heldout_loglik")
    assert np.isnan(ll[0]) and np.all(np.isfinite(ll[1:]))


def test_summary_is_the_mean_over_trials_of_the_per_trial_values():
    res = simulate(_plugin(user_metrics={"mu": lambda f, real: f[0]}), **RUN)
    per = _per_trial(res)
    assert sorted(per["trial"].unique()) == list(range(RUN["trials"]))
    for g in (1, 3):
        vals = per.loc[per["generation"] == g, "mu"].to_numpy()
        assert res.value("mu", g) == pytest.approx(vals.mean(), rel=1e-12)
        _, _, se = res.metric("mu")
        assert se[g] == pytest.approx(vals.std(ddof=1) / np.sqrt(vals.size), rel=1e-9)


def test_user_metric_sees_the_fitted_model_and_the_reference_sample():
    seen = []

    def metric(fitted, real):
        seen.append(real.shape)
        return fitted[1]

    res = simulate(_plugin(user_metrics={"var": metric}), metrics=["var"], **RUN)
    assert set(res.summary["metric"]) == {"var"}
    assert set(seen) == {(50, 1)}


def test_metrics_selection_computes_only_what_is_asked():
    res = simulate(_plugin(), metrics=["sample_mean"], **RUN)
    assert set(res.summary["metric"]) == {"sample_mean"}


def test_metric_streams_do_not_change_the_training_trajectory():
    # The metrics draw from their own stream: asking for none leaves the fits as they were.
    a = simulate(_plugin(user_metrics={"mu": lambda f, r: f[0]}), metrics=["mu"], **RUN)
    b = simulate(_plugin(user_metrics={"mu": lambda f, r: f[0]}), **RUN)
    np.testing.assert_array_equal(a.metric("mu")[1], b.metric("mu")[1])


def test_multivariate_and_text_data():
    cov = [[1.0, 0.5], [0.5, 2.0]]
    res = simulate(
        _plugin(
            model=gaussian_mixture(n_components=1),
            source="mvgaussian",
            source_params={"mean": [0.0, 1.0], "cov": cov},
        ),
        **RUN,
    )
    assert {"sample_mean[1]", "sample_cov[0,1]", "energy_distance"} <= set(res.summary["metric"])
    assert "wasserstein1" not in set(res.summary["metric"])

    class Unigram:
        """Text: a bag of words refitted to the sampled sentences."""

        def fit(self, data, rng):
            words = [w for s in data for w in s]
            return sorted(words), max(len(s) for s in data)

        def sample(self, fitted, n, rng):
            words, length = fitted
            return [tuple(rng.choice(words, size=length)) for _ in range(n)]

    text = [("a", "b", "c"), ("a", "a"), ("c", "d", "d", "e")] * 10
    res = simulate(
        _plugin(model=Unigram(), source=text, reference_size=10,
                user_metrics={"vocab": lambda f, r: len(set(f[0]))}),
        n=30,
        generations=3,
        trials=3,
        seed=1,
    )
    _, vocab, _ = res.metric("vocab")
    assert np.all(vocab[1:] <= 5) and np.all(np.diff(vocab[1:]) <= 0)  # forgetting words
    # Token ids of different lengths are sequences too, and so is a sample of equal lengths.
    ids = [np.array([1, 2, 3]), np.array([4, 5]), np.array([6, 7])]

    class Repeat:
        def fit(self, data, rng):
            return data

        def sample(self, fitted, n, rng):
            return np.ones((n, 2), dtype=int)

    model = _plugin(model=Repeat(), source=ids, reference_size=2)
    assert model.data_shape is None
    simulate(model, n=3, generations=2, trials=1, seed=0)


# ---- sources ------------------------------------------------------------------------------


def test_file_sources(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 1))
    np.save(tmp_path / "x.npy", x)
    pd.DataFrame({"x": x[:, 0]}).to_csv(tmp_path / "x.csv", index=False)
    pd.DataFrame({"x": x[:, 0]}).to_parquet(tmp_path / "x.parquet")
    runs = [
        simulate(_plugin(source=str(tmp_path / f"x.{ext}"), reference_size=20), n=40,
                 generations=1, trials=2, seed=3)
        for ext in ("npy", "csv", "parquet")
    ]
    for r in runs[1:]:
        pd.testing.assert_frame_equal(runs[0].summary, r.summary)
    # n = the data set's size: generation 1 is fitted to all of it (in random order).
    per = _per_trial(
        simulate(
            _plugin(source=x, reference_size=20, user_metrics={"mu": lambda f, r: f[0]}),
            n=40,
            generations=1,
            trials=2,
            seed=3,
        )
    )
    assert per.loc[per["generation"] == 1, "mu"].to_numpy() == pytest.approx(x.mean(), abs=1e-12)
    (tmp_path / "t.txt").write_text("a b c\n\nb c\nc\n")
    model = _plugin(source=str(tmp_path / "t.txt"), reference_size=3)
    assert model.data_shape is None and model.real.size == 3


def test_callable_and_family_sources():
    res = simulate(_plugin(source=normal_sampler), **RUN)
    assert np.isfinite(res.value("sample_var", 3))
    spec = simulate(_plugin(source="plugin_helpers:normal_sampler"), **RUN)
    pd.testing.assert_frame_equal(res.summary, spec.summary)
    for name, params in [("poisson", {"lambda": 3}), ("categorical", {"p": [0.2, 0.8]}),
                         ("bernoulli", {"p": 0.3}), ("gmm", {})]:
        model = _plugin(source=name, source_params=params)
        assert model.data_shape == (1,)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": None}, "model"),
        ({"model": "no_such_module:X"}, "model"),
        ({"model": "plugin_helpers:NoSuch"}, "model"),
        ({"model": object()}, "model"),
        ({"model": GaussianML}, "model"),
        ({"model": "plugin_helpers:Failing", "model_params": {"bogus": 1}}, "model_params"),
        ({"source": "nosuchfamily"}, "family"),
        ({"source": "mixture2"}, "source"),
        ({"source": "/nonexistent/file.npy"}, "source"),
        ({"source": "x.xlsx"}, "family"),
        ({"source": np.array([1.0, np.nan])}, "source"),
        ({"source": np.ones(10), "reference_size": 11}, "reference_size"),
        ({"reference_size": 1}, "reference_size"),
        ({"user_metrics": {"m": 3}}, "user_metrics"),
    ],
)
def test_bad_plugin_input_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        _plugin(**kwargs)
    assert err.value.field == field


def test_n_larger_than_a_data_set_is_refused():
    with pytest.raises(ConfigError, match="at most the 10 points"):
        simulate(_plugin(source=np.ones(10) * np.arange(10), reference_size=5), n=11,
                 generations=1, trials=1, seed=0)


# ---- adapters -------------------------------------------------------------------------------


def test_sklearn_adapters_clone_and_never_mutate_the_template():
    kde = kernel_density(bandwidth=0.4)
    gm = gaussian_mixture(n_components=2)
    for plugin in (kde, gm):
        before = repr(plugin.estimator.get_params())
        res = simulate(_plugin(model=plugin), **RUN)
        assert np.isfinite(res.value("heldout_loglik", 3))
        assert repr(plugin.estimator.get_params()) == before
        assert not hasattr(plugin.estimator, "n_features_in_")  # the template is never fitted
    from sklearn.neighbors import KernelDensity

    assert isinstance(PluginModel(model=KernelDensity()).plugin, SklearnPlugin)


def test_gaussian_kde_log_prob_matches_scipy():
    from scipy.stats import gaussian_kde

    rng = np.random.default_rng(5)
    pts = rng.normal(size=(30, 2))
    kde = GaussianKDE("scott")
    fit = kde.fit(pts, rng)
    y = rng.normal(size=(7, 2))
    ref = gaussian_kde(pts.T, bw_method="scott").logpdf(y.T)
    np.testing.assert_allclose(kde.log_prob(fit, y), ref, rtol=1e-10)


# ---- workflows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "lam"),
    [("accumulate", None), ("accumulate-subsample", None), ("mix", 0.5), ("mix-fixed", 0.25)],
)
def test_every_workflow_runs_a_plugin(workflow, lam):
    res = simulate(
        _plugin(model=kernel_density(bandwidth=0.2), source=np.arange(60.0) / 60),
        workflow=workflow,
        real_fraction=lam,
        **RUN,
    )
    _, share, _ = res.metric("real_fraction")
    assert share[1] == 1.0
    if workflow == "accumulate":
        # Generation k trains on n real and (k - 1) n synthetic points.
        np.testing.assert_allclose(share[1:], 1 / np.arange(1, 4))
    if workflow.startswith("mix"):
        np.testing.assert_allclose(share[2:], round(lam * 20) / 20)


def test_schedules_apply_to_plugins():
    sizes = []

    class Recorder(GaussianML):
        def fit(self, data, rng):
            sizes.append(len(data))
            return super().fit(data, rng)

    simulate(_plugin(model=Recorder()), n=10, generations=3, trials=1, seed=0,
             schedule="list:5,7,9", metrics=[])
    assert sizes == [5, 7, 9]


# ---- failures ----------------------------------------------------------------------------------


def _first_failure(limit: float, run: dict) -> tuple[int, int]:
    """(trial, generation) where GaussianML's fitted mean first leaves [-limit, limit]."""
    res = simulate(_plugin(user_metrics={"mu": lambda f, r: f[0]}), metrics=["mu"], **run)
    per = _per_trial(res)
    bad = per[(per["generation"] >= 1) & (per["mu"].abs() > limit)]
    bad = bad[bad["generation"] < run["generations"]]  # model G is never sampled for training
    first = bad.sort_values(["trial", "generation"]).iloc[0]
    return int(first["trial"]), int(first["generation"])


@pytest.mark.parametrize(
    ("how", "what"),
    [
        ("raise", "sample raised RuntimeError: deliberate failure"),
        ("nan", "sample returned 1 non-finite values"),
        ("shape", "sample returned shape (19, 1), expected (20, 1)"),
    ],
)
def test_a_failing_plugin_names_trial_generation_and_problem(how, what):
    run = dict(n=20, generations=6, trials=12, seed=7)
    trial, gen = _first_failure(0.8, run)
    with pytest.raises(PluginError) as err:
        simulate(_plugin(model=Failing(how, 0.8)), metrics=[], **run)
    assert (err.value.trial, err.value.generation) == (trial, gen)
    assert f"trial {trial}, generation {gen}" in str(err.value) and what in str(err.value)


def test_fit_errors_and_none_are_reported():
    class Broken(GaussianML):
        def fit(self, data, rng):
            return None

    with pytest.raises(PluginError, match=r"trial 0, generation 1: fit returned None"):
        simulate(_plugin(model=Broken()), metrics=[], executor="processes", **RUN)


# ---- executors and resumption ------------------------------------------------------------


def test_results_identical_for_every_executor_and_worker_count():
    model = _plugin(user_metrics={"mu": lambda f, r: f[0]})
    base = simulate(model, **RUN)
    for kwargs in ({"workers": 3}, {"executor": "processes", "workers": 1},
                   {"executor": "processes", "workers": 2}):
        pd.testing.assert_frame_equal(base.summary, simulate(model, **RUN, **kwargs).summary)


def test_dask_executor_gives_the_same_result():
    distributed = pytest.importorskip("distributed")
    model = _plugin(user_metrics={"mu": lambda f, r: f[0]})
    base = simulate(model, **RUN)
    # A scheduler given by its address, as with --scheduler (the test's own local cluster).
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        other = simulate(model, executor="dask", scheduler=cluster.scheduler_address, **RUN)
    pd.testing.assert_frame_equal(base.summary, other.summary)


def test_resume_after_a_failure_reuses_finished_trials(tmp_path):
    run = dict(n=20, generations=6, trials=12, seed=7)
    bad_trial, _ = _first_failure(0.8, run)
    assert bad_trial >= 1  # seed 7 fails first in trial 5, generation 4
    ckpt = tmp_path / "trials"
    with pytest.raises(PluginError):
        simulate(_plugin(model=Failing("raise", 0.8)), metrics=[], checkpoint=str(ckpt), **run)
    assert stored_trials(ckpt) == list(range(bad_trial))
    # The rerun (a plug-in that no longer fails, same description) reuses them.
    fixed = Failing("raise", 1e9)
    resumed = simulate(_plugin(model=fixed), metrics=[], checkpoint=str(ckpt), **run)
    assert resumed.config["trials_reused"] == bad_trial
    fresh = simulate(_plugin(model=fixed), metrics=[], **run)
    pd.testing.assert_frame_equal(resumed.summary, fresh.summary)
    assert stored_trials(ckpt) == list(range(run["trials"]))


def test_stored_trials_are_verified_before_reuse(tmp_path):
    model = _plugin(user_metrics={"mu": lambda f, r: f[0]})
    ckpt = tmp_path / "trials"
    first = simulate(model, checkpoint=str(ckpt), **RUN)
    again = simulate(model, checkpoint=str(ckpt), **RUN)
    assert again.config["trials_reused"] == RUN["trials"]
    pd.testing.assert_frame_equal(first.summary, again.summary)
    # Another seed, or a damaged file: not reused.
    other = simulate(model, checkpoint=str(ckpt), **{**RUN, "seed": 12})
    assert other.config["trials_reused"] == 0
    # Six trials, one worker: one file per trial (batches of ceil(6 / 16) = 1).
    (ckpt / "trials-000002-000002.parquet").write_bytes(b"not parquet")
    third = simulate(model, checkpoint=str(ckpt), **{**RUN, "seed": 12})
    assert third.config["trials_reused"] == RUN["trials"] - 1


def test_plugins_with_other_settings_do_not_share_stored_trials(tmp_path):
    ckpt = str(tmp_path / "trials")
    simulate(_plugin(model=GaussianKDE(0.3)), checkpoint=ckpt, **RUN)
    other = simulate(_plugin(model=GaussianKDE(0.4)), checkpoint=ckpt, **RUN)
    assert other.config["trials_reused"] == 0

    class Plain(GaussianML):
        def __init__(self, scale):
            self.scale = scale

    simulate(_plugin(model=Plain(1.0)), checkpoint=ckpt, metrics=[], **RUN)
    again = simulate(_plugin(model=Plain(2.0)), checkpoint=ckpt, metrics=[], **RUN)
    assert again.config["trials_reused"] == 0


def test_bad_executor_settings_are_refused():
    with pytest.raises(ConfigError, match="executor"):
        simulate(_plugin(), executor="mpi", **RUN)
    with pytest.raises(ConfigError, match="checkpoint"):
        simulate("gaussian", checkpoint="somewhere", **RUN)
    with pytest.raises(ConfigError, match="scheduler"):
        simulate(_plugin(), scheduler="tcp://x:1", **RUN)


# ---- command line and configs -------------------------------------------------------------------


CLI_RUN = ["--n", "20", "--generations", "3", "--trials", "6", "--seed", "11"]


def test_cli_runs_a_plugin_and_matches_the_api(tmp_path):
    out = tmp_path / "run"
    args = ["simulate", "--model", "modelcollapse.models.sklearn:kernel_density",
            "--model-param", "bandwidth=0.3", "--source", "gaussian", "--source-param",
            "sigma=2", "--reference-size", "50", "--workers", "2", *CLI_RUN, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    api = simulate(
        PluginModel(model=kernel_density(bandwidth=0.3), source="gaussian",
                    source_params={"sigma": 2}, reference_size=50),
        **RUN,
    )
    disk = read_parquet(out / "summary.parquet")
    np.testing.assert_allclose(disk["value"].to_numpy(), api.summary["value"].to_numpy())
    assert stored_trials(out / "trials") == list(range(6))
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["model"] == "modelcollapse.models.sklearn:kernel_density"


def test_cli_failure_exits_1_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["simulate", "--model", "plugin_helpers:Failing", "--model-param", "how=raise",
            "--model-param", "limit=0.8", "--metric", "sample_mean", "--n", "20",
            "--generations", "6", "--trials", "12", "--seed", "7", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "plug-in failed in trial" in result.output and "resume" in result.output
    assert not (out / "summary.parquet").exists() and (out / "trials").is_dir()
    kept = stored_trials(out / "trials")
    assert f"{len(kept)} finished trials are kept" in result.output
    # The same command fails again at the same trial, having reused what was kept.
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and stored_trials(out / "trials") == kept


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "nosuch:X"], "invalid model"),
        (["--model", "notaspec"], "invalid model"),
        (["--family", "gaussian", "--model-param", "a=1"], "--model-param"),
        (["--family", "gaussian", "--model", "plugin_helpers:GaussianML"], "exactly one"),
        ([], "exactly one"),
        (["--model", "plugin_helpers:GaussianML", "--source", "nope"], "invalid family"),
        (["--model", "plugin_helpers:GaussianML", "--executor", "dask", "--scheduler", "x"],
         "invalid scheduler"),
        (["--family", "gaussian", "--executor", "processes", "--until", "collapse"],
         "invalid until"),
        (["--model", "plugin_helpers:GaussianML", "--model-param", "x"], "--model-param"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["simulate", *args, *CLI_RUN, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not out.exists()


def test_toml_model_table(tmp_path):
    np.save(tmp_path / "data.npy", np.random.default_rng(1).normal(size=100))
    cfg = tmp_path / "kde.toml"
    cfg.write_text(
        'n = 20\ngenerations = 3\ntrials = 6\nseed = 11\nworkers = 2\n\n'
        '[model]\nname = "modelcollapse.models.sklearn:kernel_density"\n'
        'source = "data.npy"\nreference_size = 50\n[model.params]\nbandwidth = 0.3\n'
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["metric"] for r in rows} >= {"heldout_loglik", "energy_distance"}
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'n = 20\ngenerations = 3\ntrials = 6\nseed = 11\n[model]\nname = "a:b"\nfoo = 1\n'
    )
    result = CliRunner().invoke(cli, ["run", str(bad)])
    assert result.exit_code == 2
    assert "model.foo" in result.output and "reference_size" in result.output


def test_distances_match_scipy():
    from scipy.stats import energy_distance, wasserstein_distance

    from modelcollapse.models.metrics import cdf_distances
    from modelcollapse.models.metrics import energy_distance as ed_nd

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=37), rng.normal(0.5, 2.0, size=53)
    w1, ed = cdf_distances(x, y)
    assert w1 == pytest.approx(wasserstein_distance(x, y), rel=1e-12)
    assert ed == pytest.approx(energy_distance(x, y), rel=1e-12)
    # The pairwise (d > 1) form agrees with the one-dimensional identity on 1-D data.
    from scipy.spatial.distance import cdist

    v = 2 * cdist(x[:, None], y[:, None]).mean() - cdist(x[:, None], x[:, None]).mean() - cdist(
        y[:, None], y[:, None]
    ).mean()
    assert ed == pytest.approx(np.sqrt(v), rel=1e-10)
    assert ed_nd(x[:, None], y[:, None]) == pytest.approx(ed, rel=1e-12)
