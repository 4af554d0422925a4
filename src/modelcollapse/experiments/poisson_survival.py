"""poisson: Pr(Lambda_k != 0) for Poisson recursive training against Theorem 2 (exact).

Suresh et al. (2025), Theorem 2 plot: lambda0 in {1, 10}, n = 10, 500 generations, 5000 trials.
"""

from __future__ import annotations

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
from modelcollapse.theory.poisson import theorem2_survival

N, GENERATIONS, TRIALS = 10, 500, 5000
PUBLISHED = {1.0: {56: 0.29, 111: 0.16, 500: 0.04}, 10.0: {56: 0.96, 111: 0.82, 500: 0.33}}


def run(ctx: Context) -> Outcome:
    trials = ctx.trials(TRIALS, 200_000)
    fig, (ax,) = new_figure()
    rows, series = [], []
    for i, (lam0, pub) in enumerate(PUBLISHED.items()):
        r = simulate(
            "poisson",
            params={"lambda": lam0},
            n=N,
            generations=GENERATIONS,
            trials=trials,
            seed=ctx.seed + i,
            metrics=["survival"],
            workers=ctx.workers,
        )
        k, sim, se = r.metric("survival")
        exact = theorem2_survival(lam0, N, k)
        thin = slice(1, None, 10)
        sim_errorbars(
            ax,
            k[thin],
            sim[thin],
            se[thin],
            label=f"simulation λ0={lam0:g}",
            color=COLORS["sim"] if i == 0 else COLORS["other"],
        )
        ax.plot(
            k[1:],
            exact[1:],
            color=COLORS["exact"],
            lw=1.0,
            label="Theorem 2 (exact)" if i == 0 else None,
        )
        published_markers(
            ax,
            list(pub),
            list(pub.values()),
            label="published (read off the paper)" if i == 0 else None,
        )
        rows += curve_rows(
            "poisson", f"survival[lambda0={lam0:g}]", k, sim, pub, stderr=se, exact=exact
        )
        series += [
            (f"simulation[lambda0={lam0:g}]", k, sim, se),
            (f"theorem2[lambda0={lam0:g}]", k, exact, None),
        ]
    ax.set_yscale("log")
    ax.set_xlabel("generation k")
    ax.set_ylabel("Pr(Λ_k ≠ 0)")
    ax.set_title(f"Poisson, ML estimator: n={N}, {trials} trials")
    ax.legend()
    notes = ["Theorem 2 is exact: the simulation must agree with it within Monte Carlo error."]
    return Outcome(
        series_table(series),
        rows,
        fig,
        notes,
        {"n": N, "generations": GENERATIONS, "trials": trials, "lambda0": [1, 10]},
    )


register(
    Experiment(
        "poisson",
        "Poisson survival and Theorem 2",
        "paper: Theorem 2 plot",
        "Probability that a Poisson rate is not yet 0, against the exact law.",
        run,
    )
)
