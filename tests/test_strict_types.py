"""Strict types: a value of the wrong type is refused, never coerced, and every message names the
value as the user wrote it (issue 16).

No statistics here: each test runs the real command line or loader and checks the exit status,
the message (field, value, what is allowed) and that nothing was written.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from modelcollapse.cli import cli
from modelcollapse.config import load_toml
from modelcollapse.errors import ConfigError
from modelcollapse.sweep import load_sweep

TOML_BASE = 'family = "bernoulli"\ngenerations = 3\ntrials = 5\nseed = 1\n'


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("n = true", "n", "True"),
        ('n = "100"', "n", "'100'"),
        ("n = 100.0", "n", "100.0"),
        ('trajectories = "yes"', "trajectories", "'yes'"),
        ('eps = [0.1, "0.2"]', "eps", "'0.2'"),
        ('record_every = "2"', "record_every", "'2'"),
    ],
)
def test_toml_wrong_types_are_refused(tmp_path, line, field, value):
    path = tmp_path / "run.toml"
    extra = "n = 10\n" if not line.startswith("n =") else ""
    path.write_text(TOML_BASE + extra + line + "\n[params]\np = 0.2\n")
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert info.value.field == field
    assert repr(info.value.value) == value
    assert info.value.allowed  # says what is allowed


@pytest.mark.parametrize("value", ["true", '"0.2"'])
def test_toml_family_parameter_types(tmp_path, value):
    path = tmp_path / "run.toml"
    path.write_text(TOML_BASE + f"n = 10\n[params]\np = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert info.value.field == "p"
    assert "not" in info.value.allowed  # "a real number ..., not bool/str"


def test_sweep_grid_with_a_string_among_numbers(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'seed = 1\n[base]\nfamily = "bernoulli"\nn = 10\ngenerations = 3\ntrials = 5\n'
        '[grid]\n"params.p" = [0.1, "0.2"]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert info.value.field == "p" and info.value.value == "0.2"
    assert "sweep cell 1" in str(info.value)


def test_sweep_grid_integer_field_as_string(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'seed = 1\n[base]\nfamily = "bernoulli"\ngenerations = 3\ntrials = 5\n'
        '[base.params]\np = 0.2\n[grid]\nn = [10, "20"]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert info.value.field == "n" and info.value.value == "20"


def _cli(tmp_path, args):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    return result, out


SIM = ["simulate", "--generations", "3", "--trials", "5", "--seed", "1"]


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--family", "bernoulli", "--param", "p=true", "--n", "10"], "p", "True"),
        (["--family", "bernoulli", "--param", 'p="0.2"', "--n", "10"], "p", "'0.2'"),
        # Validated as given: 1e20 is named, not its int64 wrap-around -9223372036854775808.
        (["--family", "categorical", "--param", "counts=1e20,1", "--n", "10"], "counts", "1e+20"),
        # A total above int64 is named as such, not reported as "all zero".
        (
            ["--family", "categorical", "--param", "counts=9223372036854775807,1", "--n", "10"],
            "counts",
            "9223372036854775808",
        ),
        (["--family", "categorical", "--param", "counts=true,1", "--n", "10"], "counts", "True"),
        (["--family", "categorical", "--param", 'p=[0.5,"0.5"]', "--n", "10"], "p", "'0.5'"),
        (["--family", "mvgaussian", "--param", 'mean=[0,"1"]', "--n", "10"], "mean", "'1'"),
        (["--family", "gmm", "--param", "means=[0,true]", "--n", "10"], "means", "True"),
        # n itself is named (it used to be blamed on the schedule).
        (
            ["--family", "bernoulli", "--param", "p=0.2", "--n", "9223372036854775808"],
            "n",
            "9223372036854775808",
        ),
    ],
)
def test_cli_values_are_parsed_as_the_type_they_claim(tmp_path, args, field, value):
    result, out = _cli(tmp_path, [*SIM, *args])
    assert result.exit_code == 2, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith(f"Error: invalid {field}:"), message
    assert value in message, message
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", ["-5", "-1"])
def test_verify_names_the_seed_given(tmp_path, seed):
    # verify derives seeds seed+1, seed+2, ...: -5 used to be reported as -4, and -1 ran.
    result, out = _cli(tmp_path, ["verify", "--quick", "--seed", seed])
    assert result.exit_code == 2, result.output
    assert f"invalid --seed: {seed} " in result.output
    assert not out.exists()
