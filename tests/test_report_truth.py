"""Every sentence of the report computed from the numbers, and verdicts that can fail.

Issue 12: notes written by hand were false (Theorem 3's closed form said to exceed 1 over a range
where it falls below 1; global joint-ML rows tagged "other corpus"); the "agrees" threshold was
hidden; a published comparison that a simulated 0 would pass looked like evidence; a box with
no numbers looked like a pass.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from modelcollapse.cli import cli
from modelcollapse.experiments import REGISTRY, Context
from modelcollapse.experiments.base import Z_EXACT, Comparison, Outcome
from modelcollapse.experiments.gauss_collapse import closed_form_note
from modelcollapse.experiments.trajectories import SHOWN, median_fixed_count
from modelcollapse.report.html import experiment_view


def _outcome(rows: list[Comparison]) -> Outcome:
    return Outcome(pd.DataFrame({"k": np.zeros(0)}), rows, None)


def test_theorem3_note_says_where_the_closed_form_is_below_one():
    # (sigma0/eps) exp(-k/(4n-1)) < 1  <=>  k > (4n - 1) log(sigma0/eps) = 39 log 10 = 89.8.
    k = np.arange(201.0)
    closed = 10.0 * np.exp(-k / 39.0)
    first = math.floor(39 * math.log(10)) + 1
    note = closed_form_note(k, closed)
    assert f"below 1 from k = {first} " in note
    assert f"{10 * math.exp(-200 / 39):.3f} at k = 200" in note
    assert "at every k" not in note
    assert "at every k up to 200" in closed_form_note(k, np.full(k.size, 2.0))


def test_gauss_collapse_note_matches_its_own_curve():
    out = REGISTRY["gauss-collapse"].run(Context(scale="quick"))
    assert "exceeds 1 over this whole range" not in " ".join(out.notes)
    assert "below 1 from k = 90 " in out.notes[0]


def test_verdict_prints_its_threshold_and_rests_on_exact_theory():
    good = Comparison("x", "q", 1.0, 0.50, 0.01, theory=0.50 + 3.0 * 0.01, published=0.9)
    ok_text, ok = _outcome([good]).verdict()
    assert ok and f"|z| < {Z_EXACT}" in ok_text
    assert _outcome([good]).status() == "agrees"  # the published 0.9 is far off: not decisive
    bad = Comparison("x", "q", 1.0, 0.50, 0.01, theory=0.50 + 4.0 * 0.01)
    text, ok = _outcome([good, bad]).verdict()
    assert not ok and f"beyond |z| = {Z_EXACT}" in text


def test_powerless_published_rows_are_marked_and_do_not_make_a_pass():
    # |published| <= 3 sqrt(se^2 + 0.02^2): a simulated 0 would pass too.
    weak = Comparison("x", "q", 1.0, 0.01, 0.005, published=0.03)
    strong = Comparison("x", "q", 2.0, 0.40, 0.01, published=0.41)
    assert weak.published_has_power is False and strong.published_has_power is True
    text, ok = _outcome([weak]).verdict()
    assert ok and _outcome([weak]).status() == "unchecked"
    assert "would also pass with a simulated 0" in text and "not checked" in text
    assert _outcome([weak, strong]).status() == "agrees"
    off = Comparison("x", "q", 2.0, 0.40, 0.01, published=0.60)
    assert _outcome([weak, off]).status() == "disagrees"
    assert _outcome([]).status() == "unchecked"


def test_rows_not_compared_say_why():
    exp = REGISTRY["gmm-collapse"]
    rows = [Comparison("gmm-collapse", "q", 20.0, 0.3, 0.02, published=0.57, comparable=False,
                       reason="other estimator")]
    view = experiment_view(exp, _outcome(rows), None, 0.0)
    assert "other estimator" in view["rows"][0]["published"]
    assert "other corpus" not in view["rows"][0]["published"]
    assert view["status"] == "unchecked"


def test_fig2b_shows_a_median_count_of_fixed_trajectories():
    p = 0.2
    target = median_fixed_count(SHOWN, p)
    cdf = stats.binom.cdf(np.arange(SHOWN + 1), SHOWN, p)
    assert target == int(np.flatnonzero(cdf >= 0.5)[0])
    out = REGISTRY["fig2b"].run(Context(scale="quick"))
    table = out.table
    finals = [
        table["value"][(table["series"] == f"p[trial={t}]")].iloc[-1] for t in range(SHOWN)
    ]
    assert sum(v == 1.0 for v in finals) == out.settings["shown_fixed_target"]
    assert "median" in " ".join(out.notes)


def test_unk_count_in_the_corpus_note_is_the_files(wikitext_path):
    text = Path(wikitext_path).read_text(encoding="utf-8")
    unk = text.count("<unk>")
    out = REGISTRY["unigram-wikitext"].run(
        Context(scale="quick", corpus=wikitext_path, corpus_label="sample")
    )
    notes = " ".join(out.notes)
    assert f"{unk:,} <unk> tokens" in notes
    assert "We expect, but have not checked here" in notes
    assert "The raw corpus reproduces the published curve" not in notes


def _reproduce(*args):
    return CliRunner().invoke(cli, ["reproduce", "--scale", "quick", "--no-progress", *args])


def test_only_updates_a_report_in_place(tmp_path):
    out = tmp_path / "rep"
    assert _reproduce("--only", "poisson", "--out", str(out)).exit_code == 0
    before = (out / "figures" / "poisson.png").read_bytes()
    res = _reproduce("--only", "bern-bounds-a", "--out", str(out))
    assert res.exit_code == 0, res.output
    info = json.loads((out / "report.json").read_text())
    assert [e["id"] for e in info["experiments"]] == ["bern-bounds-a", "poisson"]
    assert info["updated_in_place"] == ["bern-bounds-a"]
    assert (out / "figures" / "poisson.png").read_bytes() == before
    html = (out / "index.html").read_text()
    assert 'id="poisson"' in html and 'id="bern-bounds-a"' in html
    experiments = {
        line.split(",")[0] for line in (out / "comparison.csv").read_text().splitlines()[1:]
    }
    assert experiments == {"poisson", "bern-bounds-a"}
    # Mixing scales in one report is refused, and the report is left as it was.
    res = CliRunner().invoke(cli, ["reproduce", "--only", "poisson", "--out", str(out)])
    assert res.exit_code == 2 and "--scale" in res.output and "--overwrite" in res.output
    assert json.loads((out / "report.json").read_text()) == info


def test_overwrite_exists_and_replaces_a_foreign_directory(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    res = _reproduce("--only", "poisson", "--out", str(out))
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (out / "notes.txt").exists()
    res = _reproduce("--only", "poisson", "--out", str(out), "--overwrite")
    assert res.exit_code == 0, res.output
    assert not (out / "notes.txt").exists() and (out / "index.html").is_file()
    assert re.search(r"\|z\| &lt; 3\.89|\|z\| < 3\.89", (out / "index.html").read_text())


@pytest.mark.parametrize("generations", [5, 37, 200, 5000])
def test_simulate_prints_evenly_spaced_generations_with_the_last(generations):
    from modelcollapse.commands.simulate import shown_generations

    shown = shown_generations(np.arange(generations + 1))
    assert shown[0] == 0 and shown[-1] == generations and len(shown) <= 13
    steps = np.diff(shown[:-1])
    assert len(set(steps.tolist())) <= 1  # one step, the last gap may be shorter
    every3 = shown_generations(np.r_[np.arange(0, generations + 1, 3), generations])
    assert np.all(every3[:-1] % 3 == 0) and every3[-1] == generations


def test_simulate_table_has_standard_errors():
    res = CliRunner().invoke(cli, ["simulate", "--family", "bernoulli", "--param", "p=0.3",
                                   "--n", "20", "--generations", "40", "--trials", "100",
                                   "--seed", "1", "--metric", "p_mean"])
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.output.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == [str(g) for g in range(0, 41, 5)]
    assert all("±" in r for r in rows[1:])


def test_plot_of_a_run_directory(tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "--family", "gaussian", "--param", "sigma=1",
                                   "--n", "10", "--generations", "20", "--trials", "100",
                                   "--seed", "1", "--eps", "0.5", "--eps", "0.9",
                                   "--out", str(run)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["plot", str(run), "--y", "sigma_above"])
    assert res.exit_code == 0, res.output
    assert "sigma_above[eps=0.5], sigma_above[eps=0.9]" in res.output
    assert (run / "plots" / "sigma_above.png").stat().st_size > 1000
    res = CliRunner().invoke(cli, ["plot", str(run), "--y", "nope"])
    assert res.exit_code == 2 and "invalid --y" in res.output
