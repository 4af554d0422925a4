"""Sweep files: expansion into cells, validation before any cell runs, and the sweep directory
rules (resume, changed file refused, --force, failed cells retried), results and plot."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.sweep import executors, load_sweep, parse_sweep, query, run_sweep

BASE = """
seed = 7
[base]
family = "bernoulli"
n = 10
generations = 5
trials = 200
[base.params]
p = 0.1
"""


def _write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_grid_and_explicit_cells_expand_in_order(tmp_path):
    spec = load_sweep(
        _write(
            tmp_path,
            BASE
            + """
[grid]
n = [10, 100]
"params.p" = [0.01, 0.5]
[[cell]]
n = 50
"params.p" = 0.2
estimator = "ml"
""",
        )
    )
    values = [c.values for c in spec.cells]
    assert values == [
        {"n": 10, "p": 0.01, "estimator": "ml"},
        {"n": 10, "p": 0.5, "estimator": "ml"},
        {"n": 100, "p": 0.01, "estimator": "ml"},
        {"n": 100, "p": 0.5, "estimator": "ml"},
        {"n": 50, "p": 0.2, "estimator": "ml"},
    ]
    assert [c.index for c in spec.cells] == list(range(5))
    assert all(c.config.seed == 7 for c in spec.cells)
    assert spec.cells[4].config.params == {"p": 0.2}
    assert spec.columns == {"n": "n", "p": "params.p", "estimator": "estimator"}
    assert spec.column_types == {"n": "int", "p": "float", "estimator": "str"}
    assert len({c.hash for c in spec.cells}) == 5


def test_dotted_params_table_and_replicates(tmp_path):
    text = BASE.replace("seed = 7", "seed = 7\nreplicates = 3") + "[grid.params]\np = [0.1, 0.2]\n"
    spec = load_sweep(_write(tmp_path, text))
    assert [(c.values["p"], c.values["replicate"]) for c in spec.cells] == [
        (0.1, 0),
        (0.1, 1),
        (0.1, 2),
        (0.2, 0),
        (0.2, 1),
        (0.2, 2),
    ]
    # Replicates share their configuration; only the index (hence the streams) differs.
    assert spec.cells[0].config == spec.cells[1].config
    assert spec.cells[0].hash != spec.cells[1].hash


def test_hash_ignores_formatting_but_not_content(tmp_path):
    a = load_sweep(_write(tmp_path, BASE + "[grid]\nn = [10, 20]\n", "a.toml"))
    b = load_sweep(_write(tmp_path, "# comment\n" + BASE + "[grid]\nn = [ 10,20 ]  \n", "b.toml"))
    c = load_sweep(_write(tmp_path, BASE + "[grid]\nn = [10, 30]\n", "c.toml"))
    assert a.sweep_hash == b.sweep_hash != c.sweep_hash


@pytest.mark.parametrize(
    ("extra", "field", "fragment"),
    [
        ("[grid]\nfoo = [1, 2]\n", "grid.foo", "unknown field"),
        ("[grid]\nn = []\n", "grid.n", "non-empty list"),
        ("[grid]\nn = 10\n", "grid.n", "a list of values"),
        ("[grid]\nn = [10, 0]\n", "n", "sweep cell 1"),
        ('[grid]\n"params.p" = [0.1, 1.5]\n', "p", "sweep cell 1"),
        ('[grid]\nestimator = ["ml", "mle"]\n', "estimator", "sweep cell 1"),
        ("[grid]\nseed = [1, 2]\n", "grid.seed", "replicates"),
        ("[[cell]]\nn = 10\nbogus = 1\n", "cell[0].bogus", "unknown field"),
        ('[grid]\nmetrics = [["survival"], ["surviv"]]\n', "metric", "sweep cell 1"),
        ("[grid]\nn = [10]\n[base.nope]\nx = 1\n", "base.nope", "unknown field"),
    ],
)
def test_bad_sweep_values_name_field_and_cell(tmp_path, extra, field, fragment):
    text = BASE + extra
    with pytest.raises(ConfigError) as info:
        load_sweep(_write(tmp_path, text))
    assert info.value.field == field
    assert fragment in str(info.value)


def test_top_level_problems():
    with pytest.raises(ConfigError, match="unknown key"):
        parse_sweep({"seed": 1, "base": {}, "grids": {}})
    with pytest.raises(ConfigError, match="seed"):
        parse_sweep({"base": {"family": "bernoulli"}})
    with pytest.raises(ConfigError, match="replicates"):
        parse_sweep({"seed": 1, "replicates": 0})


@pytest.mark.parametrize(
    "grid",
    [
        "foo = [1, 2]",  # unknown field
        "n = []",  # empty list
        "n = [10, -3]",  # a value invalid for its field
        '"params.p" = [0.5, 2.0]',  # a parameter invalid for the family
    ],
)
def test_cli_bad_sweep_exits_2_before_any_cell(tmp_path, monkeypatch, grid):
    ran = []
    monkeypatch.setattr(executors, "run_cell", lambda p: ran.append(p))
    path = _write(tmp_path, BASE + "[grid]\n" + grid + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: invalid "), message
    assert not out.exists()
    assert ran == []


def test_cli_bad_options_exit_2(tmp_path):
    path = _write(tmp_path, BASE + "[grid]\nn = [10]\n")
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(cli, ["sweep", str(path), "--out", str(out), "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
    result = runner.invoke(
        cli, ["sweep", str(path), "--out", str(out), "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert result.exit_code == 2 and "--scheduler" in result.output
    assert not out.exists()


@pytest.fixture
def small_sweep(tmp_path):
    return _write(tmp_path, BASE + '[grid]\nn = [10, 20]\n"params.p" = [0.1, 0.3]\n')


def test_cells_match_simulate_with_sweep_seed_and_index(tmp_path, small_sweep):
    out = tmp_path / "out"
    report = run_sweep(small_sweep, out, workers=1)
    assert report.ok and report.ran == 4 and report.skipped == 0
    table = query(out)
    assert sorted(set(table.columns)) == sorted(
        ["cell", "n", "p", "generation", "metric", "value", "stderr"]
    )
    for index, (n, p) in enumerate([(10, 0.1), (10, 0.3), (20, 0.1), (20, 0.3)]):
        ref = simulate(
            "bernoulli", params={"p": p}, n=n, generations=5, trials=200, seed=7, cell=index
        ).summary
        rows = table[table["cell"] == index]
        assert np.all(rows["n"] == n) and np.all(rows["p"] == p)
        order = np.lexsort((ref["metric"].astype(str), ref["generation"]))
        np.testing.assert_array_equal(rows["value"], ref["value"][order])
        np.testing.assert_array_equal(rows["metric"], ref["metric"][order])
    info = json.loads((out / "sweep.json").read_text())
    assert info["seed"] == 7 and [c["cell"] for c in info["cells"]] == [0, 1, 2, 3]
    assert "versions" in info and info["sweep_file"].startswith("\nseed = 7")


def test_rerun_skips_finished_cells(tmp_path, small_sweep, monkeypatch):
    out = tmp_path / "out"
    run_sweep(small_sweep, out, workers=1)
    first = {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    ran = []
    real = executors.run_cell
    monkeypatch.setattr(executors, "run_cell", lambda p: ran.append(p) or real(p))
    report = run_sweep(small_sweep, out, workers=1)
    assert report.skipped == 4 and report.ran == 0 and ran == []
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").iterdir()} == first


def test_changed_sweep_refused_or_moved_aside_with_force(tmp_path, small_sweep):
    out = tmp_path / "out"
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["sweep", str(small_sweep), "--out", str(out), "--workers", "1"]
        ).exit_code
        == 0
    )
    small_sweep.write_text(small_sweep.read_text().replace("[10, 20]", "[10, 30]"))
    result = runner.invoke(cli, ["sweep", str(small_sweep), "--out", str(out)])
    assert result.exit_code == 2 and "different sweep" in result.output
    result = runner.invoke(
        cli, ["sweep", str(small_sweep), "--out", str(out), "--force", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    old = [p for p in tmp_path.iterdir() if p.name.startswith("out.old-")]
    assert len(old) == 1 and len(list((old[0] / "cells").iterdir())) == 4
    assert sorted(set(query(out)["n"].tolist())) == [10, 30]
    # A directory that is not a sweep is refused too.
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    result = runner.invoke(cli, ["sweep", str(small_sweep), "--out", str(other)])
    assert result.exit_code == 2 and "sweep.json" in result.output


def test_failed_cell_reported_then_retried(tmp_path, small_sweep, monkeypatch):
    out = tmp_path / "out"
    real = executors.simulate

    def flaky(*args, **kwargs):
        if kwargs["cell"] == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(executors, "simulate", flaky)
    runner = CliRunner()
    result = runner.invoke(cli, ["sweep", str(small_sweep), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 1
    assert "cell 2 (n=20, p=0.1) failed: RuntimeError: disk on fire" in result.output
    failure = json.loads((out / "failed" / "cell-00002.json").read_text())
    assert "disk on fire" in failure["traceback"] and "Traceback" in failure["traceback"]
    assert sorted(set(query(out)["cell"].tolist())) == [0, 1, 3]

    monkeypatch.setattr(executors, "simulate", real)
    result = runner.invoke(cli, ["sweep", str(small_sweep), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "3 already finished, 1 run, 0 failed" in result.output
    assert not (out / "failed" / "cell-00002.json").exists()
    assert sorted(set(query(out)["cell"].tolist())) == [0, 1, 2, 3]


def test_results_and_plot_commands(tmp_path, small_sweep):
    out = tmp_path / "out"
    run_sweep(small_sweep, out, workers=1)
    runner = CliRunner()
    sql = "SELECT n, p, value FROM cells WHERE metric = 'survival' AND generation = 5 ORDER BY n, p"
    res = runner.invoke(cli, ["results", str(out), "--sql", sql, "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(r["n"], r["p"]) for r in rows] == [(10, 0.1), (10, 0.3), (20, 0.1), (20, 0.3)]
    res = runner.invoke(cli, ["results", str(out), "--sql", sql, "--format", "csv"])
    assert res.output.splitlines()[0] == "n,p,value" and len(res.output.splitlines()) == 5
    res = runner.invoke(cli, ["results", str(out)])
    assert res.exit_code == 0 and "generation" in res.output.splitlines()[0]
    res = runner.invoke(cli, ["results", str(out), "--sql", "SELECT nope FROM cells"])
    assert res.exit_code == 2 and "invalid --sql" in res.output
    res = runner.invoke(cli, ["results", str(tmp_path / "missing")])
    assert res.exit_code == 2

    fig = tmp_path / "fig.svg"
    args = ["plot", str(out), "--x", "n", "--y", "survival", "--hue", "params.p"]
    res = runner.invoke(cli, [*args, "--at-generation", "3", "--out", str(fig)])
    assert res.exit_code == 0, res.output
    first = fig.read_bytes()
    assert first.startswith(b"<?xml")
    runner.invoke(cli, [*args, "--at-generation", "3", "--out", str(fig)])
    assert fig.read_bytes() == first, "figures are deterministic"
    res = runner.invoke(cli, ["plot", str(out), "--x", "n", "--y", "survival"])
    assert res.exit_code == 0 and "mean over p" in res.output
    assert (out / "plots" / "survival-vs-n.png").is_file()
    for bad in (["--x", "q", "--y", "survival"], ["--x", "n", "--y", "nope"]):
        res = runner.invoke(cli, ["plot", str(out), *bad])
        assert res.exit_code == 2 and "Error: invalid" in res.output, (bad, res.output)
    res = runner.invoke(
        cli, ["plot", str(out), "--x", "n", "--y", "survival", "--at-generation", "99"]
    )
    assert res.exit_code == 2 and "--at-generation" in res.output
