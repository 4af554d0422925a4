"""``modelcollapse theory``: thinning with --every, categorical from --param p=..., and sizes
that cannot fit refused before any allocation."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from modelcollapse import theory as th
from modelcollapse.commands.theory import MAX_GENERATIONS, MAX_ROWS, theory


def _run(*args: str):
    return CliRunner().invoke(theory, list(args))


def _json(*args: str):
    res = _run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_every_thins_rows_and_keeps_the_last_generation():
    recs = _json("gaussian", "--n", "10", "--generations", "5000", "--every", "1000")
    assert [r["generation"] for r in recs] == [0, 1000, 2000, 3000, 4000, 5000]
    recs = _json("bernoulli", "--param", "p=0.1", "--n", "50", "--generations", "25", "--every", "10")
    assert [r["generation"] for r in recs] == [0, 10, 20, 25]
    full = _json("bernoulli", "--param", "p=0.1", "--n", "50", "--generations", "25")
    # Thinning selects rows; it does not change the values printed for them.
    assert [full[k]["exact"] for k in (0, 10, 20, 25)] == [r["exact"] for r in recs]


@pytest.mark.parametrize(
    "args",
    [
        ("poisson", "--param", "lam=1", "--n", "10"),
        ("mixture2", "--n", "10"),
        ("categorical", "--param", "p=0.5,0.5", "--n", "10"),
    ],
)
def test_every_on_the_other_commands(args):
    recs = _json(*args, "--generations", "7", "--every", "3")
    assert [r["generation"] for r in recs] == [0, 3, 6, 7]


def test_forget_counts_every(tmp_path):
    f = tmp_path / "c.tsv"
    f.write_text("a\t5\nb\t1\n", encoding="utf-8")
    recs = _json("forget", "--counts", str(f), "--generations", "9", "--every", "4")
    assert [r["generation"] for r in recs] == [0, 4, 8, 9]


def test_categorical_from_probabilities_matches_the_library():
    p = [0.5, 0.3, 0.15, 0.05]
    recs = _json("categorical", "--param", "p=0.5,0.3,0.15,0.05", "--n", "40", "--generations", "6")
    k = np.arange(7)
    exact = th.expected_unique(k, probs=p, n=40)
    lo, hi = th.corollary1_bounds(k, probs=p, n=40)
    assert [r["exact"] for r in recs] == pytest.approx(list(exact), rel=1e-12)
    assert [r["lower"] for r in recs] == pytest.approx(list(lo), rel=1e-12)
    assert [r["upper"] for r in recs] == pytest.approx(list(hi), rel=1e-12)
    assert recs[0]["exact"] == 4.0 and recs[0]["exact_fraction"] == 1.0
    # A start with a symbol of probability 1/40 loses it with positive probability at k = 1:
    # Pr(C_1 = 0) = (39/40)^40 for the smallest symbol, so E[uniq_1] < 4.
    assert recs[1]["exact"] <= 4.0 - (1 - 0.05) ** 40 + 1e-12


BIG = str(10**12)
HUGE = str(2**63)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("bernoulli", "--param", "p=0.1", "--n", "10", "--generations", BIG), "--generations"),
        (("bernoulli", "--param", "p=0.1", "--n", "10", "--generations", HUGE), "--generations"),
        (("poisson", "--param", "lam=1", "--n", "10", "--generations", BIG), "--generations"),
        (("poisson", "--param", "lam=1", "--n", "10", "--generations", HUGE), "--generations"),
        (("gaussian", "--n", "10", "--generations", BIG), "--generations"),
        (("gaussian", "--n", "10", "--generations", HUGE), "--generations"),
        (("mixture2", "--n", "10", "--generations", BIG), "--generations"),
        (("mixture2", "--n", "10", "--generations", HUGE), "--generations"),
        (("categorical", "--param", "p=1", "--n", "5", "--generations", BIG), "--generations"),
        (("categorical", "--param", "p=1", "--n", "5", "--generations", HUGE), "--generations"),
        (("gaussian", "--n", "10", "--generations", str(MAX_ROWS)), "--generations"),
        (("gaussian", "--n", "10", "--generations", "10", "--every", "0"), "--every"),
        (("bernoulli", "--param", "p=0.1", "--n", "10", "--every", HUGE), "--every"),
        (("categorical", "--param", "p=0.5,0.4", "--n", "10"), "probs"),
        (("categorical", "--param", "p=0.5,0.5"), "--n"),
        (("categorical", "--param", "q=0.5,0.5", "--n", "10"), "--param"),
        (("categorical", "--n", "10"), "--counts"),
        (("forget", "--count", "1", "--n", "10", "--exact-budget", "0"), "--exact-budget"),
        (("forget", "--count", "1", "--n", "10", "--exact-budget", "nan"), "--exact-budget"),
    ],
)
def test_bad_sizes_exit_2_before_any_allocation(args, field):
    tracemalloc.start()
    try:
        res = _run(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.exit_code == 2, res.output
    assert f"invalid {field}" in res.output
    assert peak < 50 * 2**20  # a refused size allocated nothing of its size


def test_forget_bad_sizes(tmp_path):
    f = tmp_path / "c.tsv"
    f.write_text("a\t5\n", encoding="utf-8")
    for value in (BIG, HUGE):
        res = _run("forget", "--counts", str(f), "--generations", value)
        assert res.exit_code == 2 and "invalid --generations" in res.output


def test_limits_are_usable():
    # The largest accepted horizon, thinned to the row limit, is accepted (not run here: the
    # exact chain would iterate 10^9 generations); the check itself must not refuse it.
    from modelcollapse.commands.theory import _generations

    k = _generations(MAX_GENERATIONS, -(-MAX_GENERATIONS // (MAX_ROWS - 1)))
    assert k[0] == 0 and k[-1] == MAX_GENERATIONS and len(k) <= MAX_ROWS
