"""Curation from the command line (``--curate``) and from a TOML ``[sampler]`` table.

No statistics here: every check is an equality (the command line and the Python API run the same
numbers at the same seed, one worker and two give the same summary) or a refusal of bad input.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from curation_helpers import near_zero
from modelcollapse.cli import cli
from modelcollapse.engine import simulate
from modelcollapse.errors import ConfigError
from modelcollapse.samplers import Curation, Sampler, Temperature, Verifier, resolve_sampler
from modelcollapse.store import read_parquet

SRC = Path(__file__).resolve().parents[1] / "src"
#: Small enough to run in well under a second; 4 generations of curation are enough for the
#: curated and uncurated runs to differ in every digit, so a curation dropped anywhere shows.
RUN = {"n": 30, "generations": 4, "trials": 40, "seed": 3}
CLI_RUN = ["--n", "30", "--generations", "4", "--trials", "40", "--seed", "3"]


def _summary(directory: Path) -> pd.DataFrame:
    return read_parquet(directory / "summary.parquet")


def _same(disk: pd.DataFrame, api: pd.DataFrame) -> None:
    # Bit for bit: values and standard errors compared exactly.
    pd.testing.assert_frame_equal(
        disk.reset_index(drop=True), api.reset_index(drop=True), check_exact=True
    )


@pytest.mark.parametrize(
    ("options", "stage"),
    [
        (["--curate-fraction", "0.5"], {"fraction": 0.5}),
        (["--curate-threshold", "-1"], {"threshold": -1.0}),
    ],
)
def test_cli_curation_equals_the_python_api(tmp_path, options, stage):
    out = tmp_path / "run"
    args = ["simulate", "--family", "gaussian", *CLI_RUN,
            "--curate", "curation_helpers:near_zero", *options, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    api = simulate("gaussian", sampler=[Curation(score=near_zero, **stage)], **RUN)
    _same(_summary(out), api.summary)
    plain = simulate("gaussian", **RUN)
    assert not np.array_equal(plain.summary["value"], api.summary["value"])
    info = json.loads((out / "run.json").read_text())
    recorded = info["config"]["sampler"][-1]
    assert recorded["curation"] == "curation_helpers:near_zero"
    key = "curation_fraction" if "fraction" in stage else "curation_threshold"
    assert recorded[key] == next(iter(stage.values()))
    assert "curation=curation_helpers:near_zero" in result.output  # the printed header


def test_toml_sampler_table_curates_like_the_api(tmp_path):
    cfg = tmp_path / "curated.toml"
    cfg.write_text(
        'family = "categorical"\nn = 30\ngenerations = 4\ntrials = 40\nseed = 3\n\n'
        "[params]\np = [0.5, 0.3, 0.2]\n\n"
        '[sampler]\ntemperature = 0.8\ncurate = "curation_helpers:near_zero"\n'
        "curate_fraction = 0.5\n"
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output
    api = simulate(
        "categorical",
        params={"p": [0.5, 0.3, 0.2]},
        sampler=[Temperature(0.8), Curation(score=near_zero, fraction=0.5)],
        **RUN,
    )
    _same(_summary(out), api.summary)
    stages = json.loads((out / "run.json").read_text())["config"]["sampler"]
    assert stages == [
        {"temperature": 0.8},
        {"curation": "curation_helpers:near_zero", "curation_fraction": 0.5},
    ]


def test_a_curation_with_an_imported_score_pickles_and_names_its_function():
    stage = resolve_sampler({"curate": "curation_helpers:near_zero", "curate_fraction": 0.25})
    back = pickle.loads(pickle.dumps(stage))
    # By reference: the very function comes back, so worker processes can rebuild it.
    assert back.filter.score is near_zero and back.filter.fraction == 0.25
    assert back.describe() == [{"curation": "curation_helpers:near_zero",
                                "curation_fraction": 0.25}]
    # The Python API names a module-level function the same way, and a lambda not at all.
    assert Curation(near_zero, fraction=0.5).describe()["curation"] == "curation_helpers:near_zero"
    lam = Curation(lambda x: -abs(x), fraction=0.5)
    assert lam.describe()["curation"] == "curation"
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(lam)


SCORE_MODULE = '''
import numpy as np


def closest(x):
    x = np.asarray(x, dtype=float)
    return -np.abs(x.reshape(x.shape[:2] + (-1,))).sum(axis=-1)
'''


def test_plugin_curation_over_two_processes_equals_one(tmp_path):
    # The score module lies in the working directory only, as a user's would: the command must
    # find it there, and so must the worker processes that unpickle the stage.
    (tmp_path / "my_scores_cwd.py").write_text(SCORE_MODULE)
    # The console script, as a user runs it (its directory, not the working one, is first on
    # sys.path); ``python -m`` would put the working directory there itself.
    script = Path(sys.executable).with_name("modelcollapse")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "modelcollapse.cli"]
    base = [*command, "simulate",
            "--model", "modelcollapse.models.sklearn:kernel_density",
            "--model-param", "bandwidth=0.3", "--reference-size", "40",
            "--n", "20", "--generations", "3", "--trials", "6", "--seed", "5",
            "--curate", "my_scores_cwd:closest", "--curate-fraction", "0.5",
            "--executor", "processes"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        proc = subprocess.run([*base, "--workers", str(workers), "--out", str(out)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs[workers] = out
    _same(_summary(runs[2]), _summary(runs[1]))
    info = json.loads((runs[2] / "run.json").read_text())
    assert info["config"]["sampler"] == [
        {"curation": "my_scores_cwd:closest", "curation_fraction": 0.5}
    ]


def test_a_plugin_description_includes_its_curation():
    # The checkpoints' fingerprint is built from this description: trials stored by a run with
    # one curation must not be reused by a run with another.
    from modelcollapse.models.plugin import PluginModel
    from modelcollapse.models.sklearn import kernel_density

    model = PluginModel(model=kernel_density(bandwidth=0.3), reference_size=40)
    plain = model.describe()
    half = model.with_sampler(Curation(near_zero, fraction=0.5)).describe()
    quarter = model.with_sampler(Curation(near_zero, fraction=0.25)).describe()
    assert "sampler" not in plain
    assert half["sampler"] == [{"curation": "curation_helpers:near_zero",
                                "curation_fraction": 0.5}]
    assert half != quarter


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--curate", "no_such_module_xyz:score", "--curate-fraction", "0.5"],
         "invalid curate: 'no_such_module_xyz:score' (an importable module"),
        (["--curate", "curation_helpers:missing", "--curate-fraction", "0.5"],
         "invalid curate: 'curation_helpers:missing' (a name defined in curation_helpers)"),
        (["--curate", "curation_helpers:NOT_A_FUNCTION", "--curate-fraction", "0.5"],
         "invalid curate: 'curation_helpers:NOT_A_FUNCTION' (a callable score function"),
        (["--curate", "near_zero", "--curate-fraction", "0.5"],
         "invalid curate: 'near_zero' (package.module:function"),
        (["--curate", "curation_helpers:near_zero", "--curate-fraction", "0"],
         "invalid curate_fraction: 0.0 (a number in (0, 1])"),
        (["--curate", "curation_helpers:near_zero", "--curate-fraction", "1.5"],
         "invalid curate_fraction: 1.5 (a number in (0, 1])"),
        (["--curate", "curation_helpers:near_zero", "--curate-fraction", "nan"],
         "invalid curate_fraction: nan (a number in (0, 1])"),
        (["--curate", "curation_helpers:near_zero", "--curate-fraction", "0.5",
          "--curate-threshold", "-1"],
         "invalid curate_threshold: -1.0 (give curate_fraction (0.5 given) or curate_threshold"),
        (["--curate", "curation_helpers:near_zero"], "invalid curate: 'curation_helpers:near_zero'"
         " (needs curate_fraction"),
        (["--curate-fraction", "0.5"], "invalid curate_fraction: 0.5 (only with curate"),
        (["--curate-threshold", "-1"], "invalid curate_threshold: -1.0 (only with curate"),
        (["--curate", "curation_helpers:near_zero", "--curate-fraction", "0.5",
          "--verify-tol", "1"],
         "invalid curate: 'curation_helpers:near_zero' (at most one filter: give curate or "
         "verifier_tol, not both)"),
    ],
)
def test_bad_curation_options_exit_2_and_write_nothing(tmp_path, options, needle):
    out = tmp_path / "run"
    args = ["simulate", "--family", "gaussian", *CLI_RUN, *options, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ("curate_fraction = 0.5", "invalid curate_fraction: 0.5 (only with curate"),
        ('curate = "curation_helpers:near_zero"\ncurate_fraction = true',
         "invalid curate_fraction: True"),
        ("curate = 3\ncurate_fraction = 0.5", "invalid curate: 3 (package.module:function"),
        ('curate = "curation_helpers:near_zero"\ncurate_fraction = 0.5\nverifier_tol = 1.0',
         "at most one filter"),
    ],
)
def test_bad_sampler_tables_exit_2_and_write_nothing(tmp_path, table, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        f'family = "gaussian"\nn = 30\ngenerations = 4\ntrials = 40\nseed = 3\n\n[sampler]\n{table}\n'
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not out.exists()


def test_two_filters_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"'curation and verifier_tol' \(at most one filter"):
        Sampler((Curation(near_zero, fraction=0.5), Verifier(1.0)))
