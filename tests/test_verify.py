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
    assert families == {
        "bernoulli",
        "poisson",
        "gaussian",
        "categorical",
        "workflow bernoulli",
        "workflow categorical",
        "workflow gaussian",
        "mixture2",
        "mvgaussian",
    }
    quantities = {r["quantity"] for r in rows}
    assert {"E[(M_k - mu_0)^2]", "E[M_k^2 + S_k^2]", "E[log det ratio]", "Var[P_k]"} <= quantities
    assert any(r["quantity"] == "law of Sigma_k (KS)" for r in rows)
    assert (out / "figures" / "verify-gaussian.png").stat().st_size > 1000


def test_verify_catches_a_wrong_divisor(tmp_path, monkeypatch):
    monkeypatch.setattr(Gaussian, "divisor", lambda self, n: n + 1)
    result = CliRunner().invoke(cli, ["verify", "--quick", "--out", str(tmp_path / "v")])
    assert result.exit_code == 1, result.output
    assert "FAILED gaussian" in result.output


def test_verify_catches_a_wrongly_scaled_mean_step(tmp_path, monkeypatch):
    """A mean step 1.2 times too large leaves every law of Sigma_k alone (so the older checks
    pass) but multiplies E[(M_k - mu_0)^2] by 1.44, tens of standard errors at 4000 trials."""
    from modelcollapse.families.gaussian import GaussianState

    exact = Gaussian.step_exact

    def too_far(self, state, n, rng):
        new = exact(self, state, n, rng)
        return GaussianState(state.mu + 1.2 * (new.mu - state.mu), new.log_sigma2)

    monkeypatch.setattr(Gaussian, "step_exact", too_far)
    result = CliRunner().invoke(cli, ["verify", "--quick", "--out", str(tmp_path / "v")])
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED")]
    assert failed and all("E[(M_k - mu_0)^2]" in line for line in failed), failed
