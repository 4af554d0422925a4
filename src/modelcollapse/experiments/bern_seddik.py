"""bern-seddik-a/b: Pr(P_k not in {0, 1}) against Theorem 1's extension and Seddik et al.

Suresh et al. (2025), comparison with Seddik et al.: the probability that neither absorbing state has been reached,
with the extension of Theorem 1 to both absorbing states and the bounds of Seddik et al. (2024).
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
from modelcollapse.experiments.bern_bounds import SETTINGS
from modelcollapse.experiments.plotting import COLORS, new_figure, sim_errorbars
from modelcollapse.theory.bernoulli import (
    bernoulli_segregating,
    seddik_bounds,
    theorem1_extension_bounds,
)

PUBLISHED = {
    "bern-seddik-a": {"seddik_upper": {50: 1.0}, "seddik_lower": {50: 0.004}},
    "bern-seddik-b": {"seddik_upper": {50: 1.0}, "seddik_lower": {1: 0.036, 50: 0.024}},
}


def _run(exp_id: str, ctx: Context) -> Outcome:
    s = SETTINGS[exp_id.replace("seddik", "bounds")]
    trials = ctx.trials(s["trials"])
    r = simulate(
        "bernoulli",
        params={"p": s["p0"]},
        n=s["n"],
        generations=s["generations"],
        trials=trials,
        seed=ctx.seed + 1,
        metrics=["nondegenerate"],
        workers=ctx.workers,
    )
    k, sim, se = r.metric("nondegenerate")
    ext_lo, ext_hi = theorem1_extension_bounds(s["p0"], s["n"], k)
    sed_lo, sed_hi = seddik_bounds(s["p0"], s["n"], k)
    exact = bernoulli_segregating(s["p0"], s["n"], k)

    fig, (ax,) = new_figure()
    kk = slice(1, None)
    sim_errorbars(ax, k[kk], sim[kk], se[kk])
    ax.plot(k[kk], exact[kk], color=COLORS["exact"], lw=1.2, label="exact (binomial chain)")
    ax.plot(k[kk], ext_lo[kk], "--", color=COLORS["lower"], label="Theorem 1 ext. lower")
    ax.plot(k[kk], ext_hi[kk], "--", color=COLORS["upper"], label="Theorem 1 ext. upper")
    ax.plot(k[kk], sed_lo[kk], ":", color=COLORS["other"], label="Seddik et al. lower")
    ax.plot(k[kk], sed_hi[kk], "-.", color=COLORS["other"], label="Seddik et al. upper")
    ax.set_yscale("log")
    ax.set_xlabel("generation k")
    ax.set_ylabel("Pr(P_k ∉ {0, 1})")
    ax.set_title(f"Bernoulli, ML estimator: p0={s['p0']}, n={s['n']}, {trials} trials")
    ax.legend()

    pub = PUBLISHED[exp_id]
    rows = curve_rows(exp_id, "nondegenerate", k, sim, (1, 10, 25, 50), stderr=se, exact=exact)
    curves = {"seddik_upper": sed_hi, "seddik_lower": sed_lo}
    for name, values in pub.items():
        rows += curve_rows(exp_id, name, k, curves[name], values)
    table = series_table(
        [
            ("simulation", k, sim, se),
            ("exact", k, exact, None),
            ("theorem1_ext_lower", k, ext_lo, None),
            ("theorem1_ext_upper", k, ext_hi, None),
            ("seddik_lower", k, sed_lo, None),
            ("seddik_upper", k, sed_hi, None),
        ]
    )
    notes = [
        "The Seddik et al. upper bound min(1, 2 n p0 (1-p0) (1-1/n)^k) equals 1 throughout; "
        "Theorem 1's extension tracks the exact value closely."
    ]
    return Outcome(table, rows, fig, notes, {**s, "trials": trials, "seed": ctx.seed + 1})


for _id, _ref in (
    ("bern-seddik-a", "paper: Seddik comparison (a)"),
    ("bern-seddik-b", "paper: Seddik comparison (b)"),
):
    register(
        Experiment(
            _id,
            f"Bernoulli Pr(P_k ∉ {{0,1}}) vs Seddik et al. ({_id[-1]})",
            _ref,
            "Probability that neither absorbing state is reached, with Theorem 1's extension and "
            "the bounds of Seddik et al. (2024).",
            (lambda ctx, _id=_id: _run(_id, ctx)),
        )
    )
