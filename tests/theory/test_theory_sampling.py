"""theory.sampling and theory.regression against independent computations (no Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, stats

from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.theory import (
    expected_unique_fraction,
    regression_test_error,
    temperature_limit,
    temperature_unique_first,
    temperature_unique_second,
    truncation_expected_variance,
    truncation_log_variance_drift,
)


@pytest.mark.parametrize(("n", "psi", "estimator"), [(5, 0.8, "unbiased"), (30, 1.2, "ml")])
def test_truncation_drift_by_quadrature(n, psi, estimator):
    # E[log(psi^2 chi2_{n-1} / d)] by numerical integration of the chi-square density.
    d = n - 1 if estimator == "unbiased" else n
    mean_log, _ = integrate.quad(lambda x: math.log(x) * stats.chi2.pdf(x, n - 1), 0, np.inf)
    want = 2 * math.log(psi) + mean_log - math.log(d)
    assert truncation_log_variance_drift(n, psi, estimator) == pytest.approx(want, abs=1e-8)
    # Generation 1 trains on real data: three generations, two of them truncated.
    assert truncation_expected_variance(2.0, n, 3, psi, estimator) == pytest.approx(
        4.0 * ((n - 1) / d) ** 3 * psi**4, rel=1e-12
    )
    assert truncation_expected_variance(2.0, n, 1, psi, estimator) == pytest.approx(
        4.0 * (n - 1) / d, rel=1e-12
    )


def test_temperature_closed_forms():
    p = np.array([0.7, 0.2, 0.1])
    # Two tempered refits without noise are one refit at T^2.
    np.testing.assert_allclose(temperature_limit(p, 0.5, 2), p**4 / (p**4).sum(), rtol=1e-12)
    # One symbol: always alive; uniform start: temperature changes nothing.
    assert temperature_unique_first([1.0], 10, 0.3) == pytest.approx(1.0)
    u = np.full(4, 0.25)
    assert temperature_unique_first(u, 3, 0.2) == pytest.approx(4 * (1 - 0.75**3))


def test_second_generation_sum_against_the_untempered_recursion():
    # At T = 1 the sum over generation 1's compositions is two plain multinomial steps, which
    # theory.categorical computes another way (the paper's exact unigram recursion).
    p = np.array([0.5, 0.3, 0.15, 0.05])
    n = 12
    plain = expected_unique_fraction([2], probs=p, n=n)[0] * p.size
    assert temperature_unique_second(p, n, 1.0) == pytest.approx(plain, rel=1e-12)
    # A temperature -> 0 keeps only each trial's most frequent symbols (one, unless tied);
    # T -> infinity makes generation 2 uniform over generation 1's survivors.
    assert temperature_unique_second(p, n, 1e-3) < temperature_unique_second(p, n, 1.0)
    assert temperature_unique_second(p, n, 1e3) > temperature_unique_second(p, n, 1.0)
    with pytest.raises(ConfigError, match="compositions"):
        temperature_unique_second(np.full(50, 0.02), 1000, 0.5)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: truncation_log_variance_drift(10, 0.0), "truncation"),
        (lambda: temperature_unique_first([0.5, 0.5], 10, 0.0), "temperature"),
        (lambda: regression_test_error(3, d=4, rows=5), "rows"),
        (lambda: regression_test_error(3, d=0, rows=5), "d"),
    ],
)
def test_bad_theory_input(call, field):
    with pytest.raises(ConfigError, match=f"invalid {field}:"):
        call()


def test_theory_regression_command_json():
    result = CliRunner().invoke(
        cli, ["theory", "regression", "--d", "5", "--rows", "20", "--generations", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    import json

    rows = json.loads(result.output)
    assert [r["generation"] for r in rows] == [0, 1, 2, 3]
    assert rows[2]["replace"] == pytest.approx(2 * 5 / 14)
    assert rows[2]["accumulate"] == pytest.approx(5 / 14 + 5 / (2 * 34))


def test_theory_truncation_command_prints_the_formulas():
    # The command's columns are the theory functions' values (generation 1 untruncated), with
    # --every thinning the rows and the last generation always printed.
    import json

    from modelcollapse.theory import truncation_expected_log_variance, truncation_mean_shift

    result = CliRunner().invoke(
        cli, ["theory", "truncation", "--psi", "0.8", "--n", "10", "--generations", "5",
              "--every", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    ks = [r["generation"] for r in rows]
    assert ks == [0, 2, 4, 5]
    np.testing.assert_allclose([r["mean_log_variance"] for r in rows],
                               truncation_expected_log_variance(1.0, 10, ks, 0.8), rtol=1e-12)
    np.testing.assert_allclose([r["mean_shift_sq"] for r in rows],
                               truncation_mean_shift(1.0, 10, ks, 0.8), rtol=1e-12)
    np.testing.assert_allclose([r["mean_variance"] for r in rows],
                               truncation_expected_variance(1.0, 10, ks, 0.8), rtol=1e-12)
