"""Bernoulli: Theorem 1 and its extension, Seddik et al., and the exact binomial chain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelcollapse.errors import ConfigError
from modelcollapse.theory import (
    absorption_times,
    bernoulli_segregating,
    bernoulli_survival,
    binomial_chain_segregating,
    binomial_chain_survival,
    diffusion_absorption_times,
    fixation_probability,
    seddik_bounds,
    theorem1_bounds,
    theorem1_extension_bounds,
    transition_matrix,
)


def test_known_values_spec_section_6():
    got = binomial_chain_survival(1, 100, [1, 5, 20])
    assert got == pytest.approx([0.6340, 0.2710, 0.0909], abs=5e-5)


def test_transition_matrix_is_the_binomial_law():
    n = 40
    T = transition_matrix(n)
    i = np.arange(n + 1)
    ref = stats.binom.pmf(i[None, :], n, i[:, None] / n)
    assert np.max(np.abs(T - ref)) < 1e-15
    assert np.allclose(T.sum(axis=1), 1.0, atol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_survival_equals_matrix_power(n):
    T = transition_matrix(n)
    c = np.arange(n + 1)
    for k in [0, 1, 2, 5, 17]:
        P = np.linalg.matrix_power(T, k)
        assert np.allclose(binomial_chain_survival(c, n, k), 1 - P[:, 0], atol=1e-13)
        seg = 1 - P[:, 0] - P[:, n] if n > 0 else 0
        assert np.allclose(binomial_chain_segregating(c, n, k), seg, atol=1e-13)


def test_non_integer_start_takes_one_binomial_step():
    n, p0 = 50, 0.0123
    T = transition_matrix(n)
    row = stats.binom.pmf(np.arange(n + 1), n, p0)
    for k in [1, 3, 10]:
        P = np.linalg.matrix_power(T, k - 1)
        assert float(bernoulli_survival(p0, n, k)) == pytest.approx(1 - row @ P[:, 0], abs=1e-13)
    assert float(bernoulli_survival(p0, n, 0)) == 1.0
    assert float(bernoulli_survival(0.0, n, 0)) == 0.0


def test_integer_start_agrees_with_count_form():
    k = np.arange(0, 30)
    assert np.allclose(bernoulli_survival(0.03, 100, k), binomial_chain_survival(3, 100, k))


@pytest.mark.parametrize(
    ("p0", "n"), [(0.01, 100), (0.001, 10_000), (0.05, 200), (0.2, 50), (0.5, 20), (0.9, 30)]
)
def test_theorem1_and_extension_bracket_the_exact_values(p0, n):
    k = np.arange(0, 61)
    lo, hi = theorem1_bounds(p0, n, k)
    exact = bernoulli_survival(p0, n, k)
    assert np.all(lo <= exact + 1e-12) and np.all(exact <= hi + 1e-12)
    slo, shi = theorem1_extension_bounds(p0, n, k)
    seg = bernoulli_segregating(p0, n, k)
    assert np.all(slo <= seg + 1e-12) and np.all(seg <= shi + 1e-12)
    dlo, dhi = seddik_bounds(p0, n, k)
    assert np.all(dlo <= seg + 1e-12) and np.all(seg <= dhi + 1e-12)


def test_published_bernoulli_values_are_matched_by_exact_theory():
    # bern-bounds-a and -b of SPEC.md section 5, read off the figures (+-0.02)
    a = bernoulli_survival(0.001, 10_000, [6, 11, 17, 28, 50])
    assert a == pytest.approx([0.93, 0.80, 0.65, 0.49, 0.31], abs=0.02)
    assert float(theorem1_bounds(0.001, 10_000, 50).upper) == pytest.approx(0.44, abs=0.02)
    b = bernoulli_survival(0.01, 100, [1, 6, 11, 17, 50])
    assert b == pytest.approx([0.63, 0.24, 0.15, 0.10, 0.04], abs=0.02)
    ub = theorem1_bounds(0.01, 100, np.arange(51)).upper
    assert np.all(ub[34:] == 1.0) and ub[30] < 1.0


def test_survival_tends_to_fixation_probability():
    n = 20
    c = np.arange(n + 1)
    assert np.allclose(binomial_chain_survival(c, n, 3000), c / n, atol=1e-12)
    assert np.allclose(fixation_probability(c, n), c / n)
    P = np.linalg.matrix_power(transition_matrix(n), 3000)
    assert np.allclose(P[:, n], c / n, atol=1e-12)
    s = binomial_chain_survival(5, n, np.arange(200))
    assert np.all(np.diff(s) <= 1e-15)


def test_absorption_times_solve_first_step_equations():
    n = 25
    T = transition_matrix(n)
    Q = T[1:n, 1:n]
    c = np.arange(1, n)
    t = absorption_times(c, n)
    assert np.allclose(t.mean, 1 + Q @ t.mean, atol=1e-9)
    # law of total expectation over the two outcomes
    h = c / n
    assert np.allclose(t.mean, h * t.given_fixation + (1 - h) * t.given_loss, atol=1e-9)
    edge = absorption_times([0, n], n)
    assert edge.mean.tolist() == [0.0, 0.0]
    assert np.isnan(edge.given_fixation[0]) and np.isnan(edge.given_loss[1])


def test_absorption_time_single_step_case():
    # n = 2: from c = 1 absorption happens each step with probability 1/2: E[tau] = 2
    assert float(absorption_times(1, 2).mean) == pytest.approx(2.0, abs=1e-12)


def test_diffusion_absorption_times_accuracy_as_documented():
    n = 2000
    c = np.array([1, 20, 100, 1000, 1900, 1980])
    ex = absorption_times(c, n, method="matrix")
    di = diffusion_absorption_times(c / n, n)
    rel = np.abs(np.array(di) / np.array(ex) - 1)
    assert np.all(rel < 0.05)
    mid = (c >= 100) & (c <= n - 100)
    assert np.all(rel[:, mid] < 0.004)
    assert np.all(rel[:, c >= 20][:, :-1] < 0.01)


def test_large_n_methods_against_the_exact_matrix_at_n_1000():
    n = 1000
    cs = np.array([1, 2, 5, 10, 20, 50, 100, 300])[:, None]
    ks = np.array([1, 2, 5, 10, 30, 100, 300, 1500])[None, :]
    exact = binomial_chain_survival(cs, n, ks, method="matrix")
    # truncated chain: exact to its certified 1e-12 wherever it applies
    kt = np.array([1, 5, 20, 50])[None, :]
    tr = binomial_chain_survival(cs, n, kt, method="truncated")
    assert np.max(np.abs(tr - binomial_chain_survival(cs, n, kt, method="matrix"))) < 1e-11
    # documented accuracy of the approximations (module docstring of theory.bernoulli)
    br = binomial_chain_survival(cs, n, ks, method="branching")
    di = binomial_chain_survival(cs, n, ks, method="diffusion")
    assert np.all(np.abs(br - exact) <= cs / n)
    assert np.all(np.abs(di - exact) <= 0.7 / cs)


def test_truncated_chain_at_large_n_is_bracketed_by_theorem1():
    n, c = 436_577, np.array([1, 3, 30])[:, None]
    k = np.arange(0, 20)[None, :]
    s = binomial_chain_survival(c, n, k)
    lo, hi = theorem1_bounds(c / n, n, k)
    assert np.all(lo <= s + 1e-12) and np.all(s <= hi + 1e-12)


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (theorem1_bounds, (1.5, 10, 1)),
        (theorem1_bounds, (0.1, 0, 1)),
        (theorem1_bounds, (0.1, 10, -1)),
        (binomial_chain_survival, (11, 10, 1)),
        (binomial_chain_survival, (1.5, 10, 1)),
        (
            absorption_times,
            (
                1,
                10**6,
            ),
        ),
    ],
)
def test_bad_input_raises_config_error(func, args):
    with pytest.raises(ConfigError):
        if func is absorption_times:
            func(*args, method="matrix")
        else:
            func(*args)


def test_bad_method_is_rejected():
    with pytest.raises(ConfigError, match="method"):
        bernoulli_survival(0.1, 10, 1, method="magic")
