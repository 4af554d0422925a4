"""``modelcollapse verify --quick``: passes on the real engine, fails on a broken one.

The run's family-wise false-failure rate is the command's alpha (1e-4, Bonferroni over all its
checks), with fixed seeds. The second test shows its power: a Gaussian step with divisor n + 1
instead of n - 1 shifts E[log Sigma_20^2] by 20 log((n+1)/(n-1)) = 4 at n = 10, far beyond the
check's few-hundredths standard error.
"""

from __future__ import annotations

import csv

from click.testing import CliRunner

from modelcollapse.cli import cli
from modelcollapse.families.gaussian import Gaussian


def test_verify_quick_passes(tmp_path):
    out = tmp_path / "verify"
    result = CliRunner().invoke(cli, ["verify", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output
    with (out / "verify.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    families = {r["family"] for r in rows}
    assert families == {"bernoulli", "poisson", "gaussian", "categorical"}
    assert any(r["quantity"] == "law of Sigma_k (KS)" for r in rows)
    assert (out / "figures" / "verify-gaussian.png").stat().st_size > 1000


def test_verify_catches_a_wrong_divisor(tmp_path, monkeypatch):
    monkeypatch.setattr(Gaussian, "divisor", lambda self, n: n + 1)
    result = CliRunner().invoke(cli, ["verify", "--quick", "--out", str(tmp_path / "v")])
    assert result.exit_code == 1, result.output
    assert "FAILED gaussian" in result.output
