"""Every invalid value is rejected before work starts: exit 2, one message naming the field,
the value and what is allowed, and no output directory left behind."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError

BASE = ["--n", "10", "--generations", "3", "--trials", "5", "--seed", "1"]


def _run(args, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    return result, out


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--family", "bernoulli", "--param", "p=0.2", "--n", "0", "--generations", "3",
          "--trials", "5", "--seed", "1"], "n", "0"),
        (["--family", "bernoulli", "--param", "p=0.2", "--n", "10", "--generations", "-1",
          "--trials", "5", "--seed", "1"], "generations", "-1"),
        (["--family", "bernoulli", "--param", "p=0.2", "--n", "10", "--generations", "3",
          "--trials", "0", "--seed", "1"], "trials", "0"),
        (["--family", "bernoulli", "--param", "p=1.5", *BASE], "p", "1.5"),
        (["--family", "bernoulli", "--param", "p=-0.1", *BASE], "p", "-0.1"),
        (["--family", "poisson", "--param", "lambda=-1", *BASE], "lambda", "-1"),
        (["--family", "poisson", "--param", "lambda=NaN", *BASE], "lambda", "nan"),
        (["--family", "gaussian", "--param", "sigma=-1", *BASE], "sigma", "-1"),
        (["--family", "gaussian", "--param", "sigma=NaN", *BASE], "sigma", "nan"),
        (["--family", "gaussian", "--param", "mu=NaN", *BASE], "mu", "nan"),
        (["--family", "categorical", "--param", "p=0.5,0.6", *BASE], "sum of p", "1.1"),
        (["--family", "categorical", "--param", "p=1.2,-0.2", *BASE], "p", "-0.2"),
        (["--family", "categorical", "--param", "counts=3,-1", *BASE], "counts", "-1"),
        (["--family", "binomial", *BASE], "family", "binomial"),
        (["--family", "gaussian", "--estimator", "mle", *BASE], "estimator", "mle"),
        (["--family", "bernoulli", "--metric", "surviv", *BASE], "metric", "surviv"),
        (["--family", "bernoulli", "--param", "q=0.1", *BASE], "param", "q"),
        (["--family", "gaussian", "--eps", "-0.1", *BASE], "eps", "-0.1"),
        (["--family", "gaussian", "--param", "sigma=1", "--n", "1", "--generations", "3",
          "--trials", "5", "--seed", "1"], "n", "1"),
    ],
)
def test_cli_rejects_bad_values(tmp_path, args, field, value):
    result, out = _run(["simulate", *args], tmp_path)
    assert result.exit_code == 2, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith(f"Error: invalid {field}:"), message
    assert value in message.lower(), message
    assert "(" in message and message.endswith(")"), "the message says what is allowed"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_probability_sum_tolerance_is_1e_9():
    simulate("categorical", params={"p": [0.5, 0.5 + 5e-10]}, n=5, generations=1, trials=2, seed=0)
    with pytest.raises(ConfigError, match="sum of p"):
        simulate("categorical", params={"p": [0.5, 0.5 + 5e-9]}, n=5, generations=1, trials=2,
                 seed=0)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("", "counts file"),
        ("# only a comment\n\n", "counts file"),
        ("the 5\n", "line 1"),
        ("the\t5\nof\tmany\n", "line 2"),
        ("the\t-5\n", "line 1"),
        ("the\t5\nthe\t6\n", "line 2"),
        ("a\t0\nb\t0\n", "counts file"),
    ],
)
def test_bad_counts_files(tmp_path, content, field):
    counts = tmp_path / "counts.tsv"
    counts.write_text(content, encoding="utf-8")
    result, out = _run(["simulate", "--family", "categorical", "--counts", str(counts), *BASE],
                       tmp_path)
    assert result.exit_code == 2, result.output
    assert "Error: invalid" in result.output and field in result.output, result.output
    assert not out.exists()


def test_missing_counts_file(tmp_path):
    result, out = _run(["simulate", "--family", "categorical", "--counts",
                        str(tmp_path / "nope.tsv"), *BASE], tmp_path)
    assert result.exit_code == 2 and "nope.tsv" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('family = "bernoulli"\nn = 10\ngenerations = 3\ntrials = 5\nseed = 1\ncolour = 2\n',
         "colour"),
        ('family = "bernoulli"\nn = 10\ngenerations = 3\nseed = 1\n', "trials"),
        ('family = "bernoulli"\nn = 10\ngenerations = 3\ntrials = 5\nseed = 1\n'
         'method = "fast"\n', "method"),
        ('family = "bernoulli"\nn = 10\ngenerations = 3\ntrials = 5\nseed = 1\n'
         '[params]\np = 2\n', "p"),
        ("family = = 3\n", "config file"),
    ],
)
def test_bad_toml(tmp_path, toml, field):
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert f"Error: invalid {field}" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_existing_output_directory_is_not_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["simulate", "--family", "bernoulli", *BASE, "--out",
                                      str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (out / "keep.txt").read_text() == "mine"


def test_python_api_rejects_before_work():
    with pytest.raises(ConfigError, match="invalid trials: 0"):
        simulate("bernoulli", params={"p": 0.2}, n=10, generations=3, trials=0, seed=1)
    with pytest.raises(ConfigError, match="invalid n: True"):
        simulate("bernoulli", params={"p": 0.2}, n=True, generations=3, trials=2, seed=1)
    with pytest.raises(ConfigError, match="invalid method"):
        simulate("bernoulli", n=10, generations=3, trials=2, seed=1, method="fast")
    with pytest.raises(ConfigError, match="invalid eps"):
        simulate("bernoulli", n=10, generations=3, trials=2, seed=1, eps=[0.1])
