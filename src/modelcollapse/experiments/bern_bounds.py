"""bern-bounds-a/b: Pr(P_k != 0) for Bernoulli recursive training against Theorem 1.

Suresh et al. (2025), Theorem 1 plots: the survival probability of a Bernoulli parameter under recursive
ML training, with the two bounds of Theorem 1. We add the exact value from the binomial chain.
"""

from __future__ import annotations

import numpy as np

from modelcollapse.engine import simulate
from modelcollapse.experiments.base import (
    Context,
    Experiment,
    Outcome,
    curve_rows,
    register,
    series_table,
)
from modelcollapse.experiments.plotting import COLORS, new_figure, published_markers, sim_errorbars
from modelcollapse.theory.bernoulli import bernoulli_survival, theorem1_bounds

SETTINGS = {
    "bern-bounds-a": {"p0": 0.001, "n": 10_000, "generations": 50, "trials": 5000, "log": False},
    "bern-bounds-b": {"p0": 0.01, "n": 100, "generations": 50, "trials": 5000, "log": True},
}

PUBLISHED = {
    "bern-bounds-a": {
        "survival": {6: 0.93, 11: 0.80, 17: 0.65, 28: 0.49, 50: 0.31},
        "theorem1_upper": {50: 0.44},
    },
    "bern-bounds-b": {
        "survival": {1: 0.63, 6: 0.24, 11: 0.15, 17: 0.10, 50: 0.04},
        "theorem1_upper": {33: 1.0, 50: 1.0},
    },
}


def _run(exp_id: str, ctx: Context) -> Outcome:
    s = SETTINGS[exp_id]
    trials = ctx.trials(s["trials"])
    r = simulate(
        "bernoulli",
        params={"p": s["p0"]},
        n=s["n"],
        generations=s["generations"],
        trials=trials,
        seed=ctx.seed,
        metrics=["survival"],
        workers=ctx.workers,
    )
    k, sim, se = r.metric("survival")
    lower, upper = theorem1_bounds(s["p0"], s["n"], k)
    exact = bernoulli_survival(s["p0"], s["n"], k)

    fig, (ax,) = new_figure()
    kk = k[1:]
    sim_errorbars(ax, kk, sim[1:], se[1:])
    ax.plot(kk, exact[1:], color=COLORS["exact"], lw=1.2, label="exact (binomial chain)")
    ax.plot(kk, lower[1:], "--", color=COLORS["lower"], label="Theorem 1 lower bound")
    ax.plot(kk, upper[1:], "--", color=COLORS["upper"], label="Theorem 1 upper bound")
    pub = PUBLISHED[exp_id]["survival"]
    published_markers(ax, list(pub), list(pub.values()))
    if s["log"]:
        ax.set_yscale("log")
    ax.set_xlabel("generation k")
    ax.set_ylabel("Pr(P_k ≠ 0)")
    ax.set_title(f"Bernoulli, ML estimator: p0={s['p0']}, n={s['n']}, {trials} trials")
    ax.legend()

    rows = curve_rows(exp_id, "survival", k, sim, pub, stderr=se, exact=exact)
    rows += curve_rows(exp_id, "theorem1_upper", k, upper, PUBLISHED[exp_id]["theorem1_upper"])
    rows += curve_rows(exp_id, "theorem1_lower", k, lower, (10, 50))
    table = series_table(
        [
            ("simulation", k, sim, se),
            ("exact", k, exact, None),
            ("theorem1_lower", k, lower, None),
            ("theorem1_upper", k, upper, None),
        ]
    )
    bracket = bool(np.all((lower <= exact + 1e-12) & (exact <= upper + 1e-12)))
    notes = [
        f"Theorem 1's bounds bracket the exact survival at every generation: {bracket}.",
        "Estimator: ML (sample mean).",
    ]
    return Outcome(table, rows, fig, notes, {**s, "trials": trials, "seed": ctx.seed})


for _id, _ref in (
    ("bern-bounds-a", "paper: Theorem 1 plot (a)"),
    ("bern-bounds-b", "paper: Theorem 1 plot (b)"),
):
    register(
        Experiment(
            _id,
            f"Bernoulli survival Pr(P_k ≠ 0) and Theorem 1 ({_id[-1]})",
            _ref,
            "Probability that a Bernoulli parameter is not yet absorbed at 0, with the paper's "
            "bounds and the exact binomial-chain value.",
            (lambda ctx, _id=_id: _run(_id, ctx)),
        )
    )
