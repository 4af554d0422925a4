"""The renamed threshold metric: sigma_above[eps=E] = Pr(Sigma_k > E), the old name
collapse_prob[eps=E] still accepted with a DeprecationWarning, and a bare name selecting every
threshold (Python API and command line)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from modelcollapse import simulate
from modelcollapse.cli import cli

KW = dict(params={"mu": 0.0, "sigma": 1.0}, n=10, generations=3, trials=200, seed=1)


def test_new_name_and_bare_name_select_every_threshold():
    r = simulate("gaussian", eps=[0.5, 0.9], metrics=["sigma_above"], **KW)
    assert set(r.summary["metric"].tolist()) == {"sigma_above[eps=0.5]", "sigma_above[eps=0.9]"}
    _, v, _ = r.metric("sigma_above[eps=0.5]")
    assert v[0] == 1.0  # sigma_0 = 1 > 0.5


def test_old_name_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="sigma_above"):
        r = simulate("gaussian", eps=[0.5], metrics=["collapse_prob[eps=0.5]"], **KW)
    assert set(r.summary["metric"].tolist()) == {"sigma_above[eps=0.5]"}
    with pytest.warns(DeprecationWarning):
        _, v, _ = r.metric("collapse_prob[eps=0.5]")
    assert v.tolist() == r.metric("sigma_above[eps=0.5]")[1].tolist()
    with pytest.warns(DeprecationWarning):
        r = simulate("gaussian", eps=[0.5, 0.9], metrics=["collapse_prob"], **KW)
    assert len(set(r.summary["metric"].tolist())) == 2


def test_cli_metric_without_eps_selects_every_eps():
    args = ["simulate", "--family", "gaussian", "--param", "sigma=1", "--n", "10",
            "--generations", "3", "--trials", "100", "--seed", "1", "--eps", "0.5",
            "--eps", "0.9", "--metric", "sigma_above", "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    names = {row["metric"] for row in json.loads(res.output)}
    assert names == {"sigma_above[eps=0.5]", "sigma_above[eps=0.9]"}
    res = CliRunner().invoke(cli, [*args[:-3], "--metric", "nonsense", "--json"])
    assert res.exit_code == 2 and "nonsense" in res.output
