"""Determinism, shapes, invariants and long horizons of the engine."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.config import load_toml
from modelcollapse.families import Categorical
from modelcollapse.seeding import block_generator
from modelcollapse.store import read_parquet

from sweep_helpers import finite_part

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configs"


def _same(a, b):
    for col in ("generation", "metric", "value", "stderr"):
        np.testing.assert_array_equal(a.summary[col], b.summary[col])


@pytest.mark.parametrize("family,params,n", [
    ("gaussian", {"sigma": 1.0}, 10),
    ("bernoulli", {"p": 0.2}, 50),
    ("categorical", {"counts": [3, 2, 1, 0, 7]}, 13),
])
def test_summary_identical_for_any_number_of_workers(family, params, n):
    # 10,000 trials span three blocks of 4,096 (the last one partial).
    kw = dict(params=params, n=n, generations=15, trials=10_000, seed=5, eps=())
    one = simulate(family, workers=1, **kw)
    two = simulate(family, workers=2, **kw)
    three = simulate(family, workers=3, **kw)
    _same(one, two)
    _same(one, three)


def test_seed_and_cell_change_the_streams():
    kw = dict(params={"p": 0.3}, n=50, generations=5, trials=500)
    a = simulate("bernoulli", seed=1, **kw)
    b = simulate("bernoulli", seed=2, **kw)
    c = simulate("bernoulli", seed=1, cell=1, **kw)
    assert not np.array_equal(a.summary["value"], b.summary["value"])
    assert not np.array_equal(a.summary["value"], c.summary["value"])
    _same(a, simulate("bernoulli", seed=1, **kw))


def test_trajectories_agree_with_summary_across_blocks():
    r = simulate("gaussian", params={"mu": 0.0, "sigma": 1.0}, n=10, generations=6, trials=9_000,
                 seed=3, trajectories=True)
    traj = r.trajectories
    for k in range(7):
        rows = traj["generation"] == k
        assert rows.sum() == 9_000
        assert np.isfinite(traj["mu"][rows]).all()
        gens, mean, _ = r.metric("mu_mean")
        assert math.isclose(traj["mu"][rows].mean(), mean[k], rel_tol=1e-9, abs_tol=1e-12)
        _, var, _ = r.metric("log_sigma2_var")
        assert math.isclose(traj["log_sigma2"][rows].var(ddof=1), var[k], rel_tol=1e-9,
                            abs_tol=1e-12)


def test_partial_trajectories_and_record_every():
    r = simulate("bernoulli", params={"p": 0.5}, n=20, generations=10, trials=100, seed=1,
                 trajectories=7, record_every=4)
    assert sorted(set(r.summary["generation"].tolist())) == [0, 4, 8, 10]
    assert len(r.trajectories) == 4 * 7
    assert set(r.trajectories["trial"].tolist()) == set(range(7))


def test_gaussian_million_generations_stay_finite():
    # n = 10 unbiased drifts by -0.1152 per generation: log Sigma^2 reaches about -1.15e5, far
    # below the float64 range of Sigma^2 itself. The log-space state must stay finite.
    G = 1_000_000
    r = simulate("gaussian", params={"sigma": 1.0}, n=10, generations=G, trials=20, seed=9,
                 record_every=100_000, eps=[0.1])
    values = r.summary["value"]
    assert np.isfinite(values).all()
    gens, logs, se = r.metric("log_sigma2_mean")
    drift = -0.11518  # psi(4.5) + log(2/9)
    # The spread of the sum after 1e6 generations is sqrt(1e6 * psi'(4.5)) = 500, so the mean of
    # 20 trials lies within +-112 (about 0.1%) of the drift line: a generous 10-sigma check.
    assert abs(logs[-1] - drift * G) < 10 * 500 / math.sqrt(20)
    _, sig, _ = r.metric("sigma_mean")
    assert sig[-1] == 0.0  # Sigma itself underflows, as it should; its log does not.
    _, prob, _ = r.metric("sigma_above[eps=0.1]")
    assert prob[-1] == 0.0


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=1, max_size=12).filter(lambda c: sum(c) > 0),
    n=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_categorical_counts_sum_to_n_and_dead_symbols_stay_dead(counts, n, seed):
    fam = Categorical(counts=np.array(counts))
    rng = block_generator(seed, 0)
    for method in ("exact", "naive"):
        state = fam.initial_state(6)
        for _ in range(4):
            new = fam.step(state, n, rng, method)
            assert new.dtype.kind == "i"
            assert (new.sum(axis=1) == n).all()
            assert not np.any((np.asarray(state) == 0) & (new > 0))
            state = new


@settings(max_examples=30, deadline=None)
@given(p=st.floats(0, 1), n=st.integers(1, 200), seed=st.integers(0, 1000))
def test_bernoulli_parameters_stay_on_the_lattice(p, n, seed):
    r = simulate("bernoulli", params={"p": p}, n=n, generations=3, trials=16, seed=seed,
                 trajectories=True)
    later = r.trajectories["p"][r.trajectories["generation"] > 0]
    assert ((later >= 0) & (later <= 1)).all()
    np.testing.assert_allclose(later * n, np.round(later * n), atol=1e-9)


def test_cli_simulate_writes_run_directory_and_json(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "--family", "gaussian", "--param", "sigma=1",
                                   "--n", "10", "--generations", "5", "--trials", "200",
                                   "--seed", "4", "--eps", "0.5", "--estimator", "ml",
                                   "--out", str(out), "--trajectories", "3"])
    assert res.exit_code == 0, res.output
    assert "estimator=ml" in res.output
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["estimator"] == "ml" and info["seed"] == 4
    assert {"modelcollapse", "numpy", "python"} <= set(info["versions"])
    summary = read_parquet(out / "summary.parquet")
    assert list(summary.columns) == ["generation", "metric", "value", "stderr"]
    assert "sigma_above[eps=0.5]" in set(summary["metric"].tolist())
    assert len(read_parquet(out / "trajectories.parquet")) == 6 * 3
    res = CliRunner().invoke(cli, ["simulate", "--family", "bernoulli", "--param", "p=0.5",
                                   "--n", "10", "--generations", "2", "--trials", "20",
                                   "--seed", "4", "--json"])
    records = json.loads(res.output)
    assert records[0] == {"generation": 0, "metric": "p_mean", "value": 0.5, "stderr": 0.0}


@pytest.mark.parametrize("config", sorted(p.name for p in DOCS.glob("*.toml")
                                          if not p.name.startswith("sweep")))
def test_documented_configs_run(tmp_path, config):
    cfg = load_toml(DOCS / config)
    small = cfg.model_copy(update={"generations": min(cfg.generations, 5),
                                   "trials": min(cfg.trials, 50)})
    r = simulate(small.build_family(), **small.simulate_kwargs())
    assert np.isfinite(finite_part(r.summary)).all()
    res = CliRunner().invoke(cli, ["run", str(DOCS / config), "--json"])
    assert res.exit_code == 0, res.output


def test_counts_file_start(tmp_path):
    counts = tmp_path / "c.tsv"
    counts.write_text("the\t5\nof\t3\nzebra\t1\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["simulate", "--family", "categorical", "--counts", str(counts),
                                   "--n", "9", "--generations", "3", "--trials", "50", "--seed",
                                   "1", "--json"])
    assert res.exit_code == 0, res.output
    first = json.loads(res.output)[0]
    assert first == {"generation": 0, "metric": "uniq_mean", "value": 3.0, "stderr": 0.0}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_leaves_no_directory(tmp_path, sig):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelcollapse.cli", "simulate", "--family", "gaussian",
         "--n", "10", "--generations", "100000000", "--trials", "10", "--seed", "1",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    time.sleep(3.0)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, sig)
    proc.wait(timeout=30)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
