"""The ``modelcollapse theory`` command."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from modelcollapse.commands.theory import theory


def _run(*args: str):
    return CliRunner().invoke(theory, list(args))


def _json(*args: str):
    res = _run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_bernoulli_json_records():
    recs = _json("bernoulli", "--param", "p=0.01", "--n", "100", "--generations", "20")
    assert len(recs) == 21
    assert {"generation", "g_k", "lower", "exact", "upper"} <= set(recs[0])
    assert recs[1]["exact"] == pytest.approx(0.6340, abs=5e-5)
    assert recs[0]["g_k"] is None  # g_0 = inf
    assert all(r["lower"] <= r["exact"] <= r["upper"] for r in recs)


def test_poisson_gaussian_mixture():
    recs = _json("poisson", "--param", "lambda=1", "--n", "10", "--generations", "5")
    # Independent of the package: extinction of a critical Poisson(1) branching process from
    # one line, q_j = exp(q_{j-1} - 1), q_0 = 0; S_1 ~ Poisson(n lambda) lines at generation 1
    # then give Pr(alive at k) = 1 - exp(n lambda (q_{k-1} - 1)).
    q = [0.0]
    for _ in range(5):
        q.append(math.exp(q[-1] - 1.0))
    for k in range(1, 6):
        assert recs[k]["exact"] == pytest.approx(-math.expm1(10.0 * (q[k - 1] - 1.0)), rel=1e-12)
    assert recs[0]["exact"] == 1.0
    recs = _json(
        "gaussian", "--param", "sigma=1", "--eps", "0.1", "--n", "10", "--generations", "30"
    )
    assert all(r["exact"] <= r["bertrand"] + 1e-12 for r in recs)
    recs = _json("mixture2", "--param", "sigma=1", "--n", "10", "--generations", "100")
    assert recs[100]["upper"] == pytest.approx(0.82, abs=0.01)
    recs = _json("collapse", "--eps", "0.1", "--delta", "0.05", "--n", "10")
    assert recs[0]["generation"] > 100


def test_table_output():
    res = _run("bernoulli", "--param", "p=0.2", "--n", "30", "--generations", "3")
    assert res.exit_code == 0
    assert "exact" in res.output and "upper" in res.output


def test_counts_file_commands(tmp_path):
    f = tmp_path / "c.tsv"
    f.write_text("the\t50\nof\t20\nrare\t1\nodd\t1\n", encoding="utf-8")
    recs = _json("categorical", "--counts", str(f), "--generations", "5")
    assert recs[0]["exact"] == 4.0
    assert all(r["lower"] <= r["exact"] <= r["upper"] for r in recs)
    recs = _json("forget", "--counts", str(f), "--generations", "5")
    assert recs[0]["exact"] == 1.0
    recs = _json("forget", "--count", "1", "--count", "10", "--n", "436577")
    assert [r["quantile"] for r in recs] == [0.5, 0.9, 0.5, 0.9]
    assert recs[0]["generation"] == 2


@pytest.mark.parametrize(
    "args",
    [
        ("bernoulli", "--param", "p=1.5", "--n", "10"),
        ("bernoulli", "--param", "q=0.5", "--n", "10"),
        ("bernoulli", "--param", "p=0.5", "--n", "0"),
        ("bernoulli", "--param", "p=0.5", "--n", "10", "--generations", "-1"),
        ("gaussian", "--n", "1"),
        ("gaussian", "--n", "10", "--estimator", "mle"),
        ("forget", "--count", "5", "--n", "3"),
        ("forget", "--count", "1"),
        ("forget", "--count", "1", "--n", "10", "--quantile", "1.0"),
        ("categorical", "--counts", "/nonexistent/file.tsv"),
    ],
)
def test_bad_input_exits_2(args):
    res = _run(*args)
    assert res.exit_code == 2
    assert "invalid" in res.output or "Invalid" in res.output or "Error" in res.output
