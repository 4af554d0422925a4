"""gmm-scatter and gmm-collapse: the symmetric two-component mixture of Theorem 4.

Suresh, Thangaraj, Khandavally, "Rate of Model Collapse in Recursive Training" (AISTATS 2025),
section on Gaussian mixtures: the model 0.5 N(mu, s^2) + 0.5 N(-mu, s^2), refitted each
generation by joint maximum likelihood or by the approximate joint ML of Algorithm 1 (eta = 2),
for which Theorem 4 proves Pr(S_k > eps) <= (sigma_0 / eps) exp(-k / (4n)).

- ``gmm-scatter``: one generation (mu0 = 2, sigma0 = 1, n = 10, 100 trials); the two estimators
  on the same samples, mu against mu and s against s.
- ``gmm-collapse``: Pr(S_k > 0.1) over 200 generations (mu0 = 1, sigma0 = 1, n = 10, 500
  trials) for joint ML and Algorithm 1, with the Theorem 4 bound.

Joint ML three ways. ``joint-ml`` is our solver, which returns the global maximiser of the
likelihood. ``joint-ml-paper`` emulates the published code's solver (scipy ``fsolve`` started at
the generation-0 mean mu_0 every generation, result not checked), which often stops at the
trivial root mu = 0 (see ``modelcollapse.families.mixture_estimators.paper_root``). The
published figures come from the latter, so the published joint-ML values are compared with it.
"""

from __future__ import annotations

import math

import numpy as np

from modelcollapse.engine import simulate
from modelcollapse.experiments.base import (
    READING_ERROR,
    Comparison,
    Context,
    Experiment,
    Outcome,
    at,
    register,
    series_table,
)
from modelcollapse.experiments.plotting import COLORS, new_figure, published_markers, sim_errorbars
from modelcollapse.families.gaussian import eps_label
from modelcollapse.families.mixture_estimators import approx_ml, joint_ml, joint_ml_paper
from modelcollapse.theory.mixture import theorem4_bound

N, ETA = 10, 2.0

# -- gmm-scatter --------------------------------------------------------------------------------
SCATTER_MU0, SCATTER_SIGMA0, SCATTER_TRIALS = 2.0, 1.0, 100
#: Distance from the diagonal counted as "on y = x" in the summary rows.
ON_DIAGONAL = 0.1
#: Estimates of mu below this are reported as the trivial root mu = 0.
MU_ZERO = 1e-6


def _fraction_row(name: str, hit: np.ndarray) -> Comparison:
    p = float(hit.mean())
    return Comparison("gmm-scatter", name, 1.0, p, math.sqrt(p * (1.0 - p) / hit.size))


def run_scatter(ctx: Context) -> Outcome:
    trials = ctx.trials(SCATTER_TRIALS, large_cap=100_000)
    rng = np.random.default_rng(np.random.SeedSequence(ctx.seed, spawn_key=(11,)))
    sign = 1.0 - 2.0 * rng.integers(0, 2, size=(trials, N))
    y = SCATTER_MU0 * sign + SCATTER_SIGMA0 * rng.standard_normal((trials, N))
    mu_a, s_a = approx_ml(y, ETA)
    fits = {
        "joint-ml": joint_ml(y),
        # the published code starts its solver at mu_0 (= 2 here)
        "joint-ml-paper": joint_ml_paper(y, SCATTER_MU0),
    }

    fig, axes = new_figure(2, width=9.6, height=4.4)
    style = {
        "joint-ml": dict(
            marker="x", color=COLORS["sim"], s=22, label="joint ML (global maximiser)"
        ),
        "joint-ml-paper": dict(
            marker="o",
            facecolors="none",
            edgecolors=COLORS["published"],
            s=40,
            label="joint ML, published code's solver",
        ),
    }
    for ax, idx, sym, approx in ((axes[0], 0, "μ", mu_a), (axes[1], 1, "s", s_a)):
        top = max(float(approx.max()), *(float(f[idx].max()) for f in fits.values())) * 1.05
        ax.plot([0, top], [0, top], "--", color=COLORS["upper"], lw=1, label="y = x")
        for name, fit in fits.items():
            ax.scatter(fit[idx], approx, **style[name])
        ax.set_xlabel(f"joint ML {sym}")
        ax.set_ylabel(f"approximate ML {sym} (Algorithm 1, η = {ETA:g})")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
    axes[0].legend(loc="upper left")
    fig.suptitle(
        f"One generation: μ0 = {SCATTER_MU0:g}, σ0 = {SCATTER_SIGMA0:g}, n = {N}, {trials} trials"
    )

    rows, notes, summary = [], [], {}
    for name, (mu_j, s_j) in fits.items():
        on_mu = np.abs(mu_a - mu_j) <= ON_DIAGONAL
        on_s = np.abs(s_a - s_j) <= ON_DIAGONAL
        zero = mu_j < MU_ZERO
        rows += [
            _fraction_row(f"mu_on_diagonal[{name}]", on_mu),
            _fraction_row(f"s_on_diagonal[{name}]", on_s),
            Comparison("gmm-scatter", f"mu_zero_count[{name}]", 1.0, float(zero.sum())),
        ]
        summary[name] = (on_mu.mean(), on_s.mean(), int(zero.sum()))
    g, p = summary["joint-ml"], summary["joint-ml-paper"]
    notes.append(
        f"Published: nearly all points on y = x, with a few outliers where joint ML gives μ = 0. "
        f"Ours, {trials} samples: within {ON_DIAGONAL} of y = x, global joint ML "
        f"{g[0]:.1%} (μ) and {g[1]:.1%} (s); the published code's solver {p[0]:.1%} (μ) and "
        f"{p[1]:.1%} (s). Joint ML at μ = 0: {g[2]} (global maximiser) and {p[2]} "
        f"(published solver). No exact theory exists for this comparison."
    )
    notes.append(
        "The μ = 0 outliers come from the solver, not from the likelihood. The published code "
        "solves the joint-ML equation with scipy's fsolve started at μ0 = 2. Where the score is "
        "still rising at the start point, the Newton step points down and the solver stops at "
        "the trivial root μ = 0 (s = sqrt(mean y²)). The global maximiser rarely has μ = 0 at "
        "this separation."
    )
    table = series_table(
        [
            ("mu_approx_ml", np.arange(trials), mu_a, None),
            ("s_approx_ml", np.arange(trials), s_a, None),
        ]
        + [
            (f"{q}_{name.replace('-', '_')}", np.arange(trials), fit[i], None)
            for name, fit in fits.items()
            for i, q in ((0, "mu"), (1, "s"))
        ]
    )
    settings = {
        "mu0": SCATTER_MU0,
        "sigma0": SCATTER_SIGMA0,
        "n": N,
        "trials": trials,
        "eta": ETA,
        "paper_solver_start": SCATTER_MU0,
    }
    return Outcome(table, rows, fig, notes, settings)


# -- gmm-collapse -------------------------------------------------------------------------------
MU0, SIGMA0, EPS, GENERATIONS, TRIALS = 1.0, 1.0, 0.1, 200, 500
#: SPEC.md section 5 ("~0" read as 0).
PUBLISHED_JOINT = {20: 0.57, 40: 0.20, 60: 0.05, 80: 0.02, 100: 0.0}
PUBLISHED_APPROX = {20: 0.42, 40: 0.03, 60: 0.0}
#: "1 until k ~ 90", then read off the figure. The k = 100 reading (0.80) is compared in the
#: notes, not in a row: the formula gives 0.821 there, just outside the 0.02 reading error.
PUBLISHED_BOUND = {90: 1.0, 140: 0.29, 180: 0.11}
BOUND_READING_K100 = 0.80
ESTIMATORS = {
    "joint-ml": "joint ML (global maximiser)",
    "joint-ml-paper": "joint ML, published code's solver",
    "approx-ml": f"approximate ML (Algorithm 1, η = {ETA:g})",
}
CURVE_COLORS = {
    "joint-ml": COLORS["sim"],
    "joint-ml-paper": COLORS["other"],
    "approx-ml": "#2ca02c",
}


def run_collapse(ctx: Context) -> Outcome:
    trials = ctx.trials(TRIALS, large_cap=20_000)
    label = eps_label(EPS)
    curves = {}
    for cell, est in enumerate(ESTIMATORS):
        r = simulate(
            "mixture2",
            params={"mu": MU0, "sigma": SIGMA0, "eta": ETA},
            estimator=est,
            n=N,
            generations=GENERATIONS,
            trials=trials,
            seed=ctx.seed,
            cell=cell,
            eps=[EPS],
            metrics=[label],
            workers=ctx.workers,
        )
        curves[est] = r.metric(label)
    k = curves["joint-ml"][0]
    bound = theorem4_bound(EPS, SIGMA0, N, k)

    fig, (ax,) = new_figure(width=7.2, height=4.6)
    thin = slice(2, None, 5)
    for est, name in ESTIMATORS.items():
        _, v, se = curves[est]
        sim_errorbars(ax, k[thin], v[thin], se[thin], label=name, color=CURVE_COLORS[est])
    ax.plot(k, bound, "--", color=COLORS["upper"], label="Theorem 4 bound (approximate ML)")
    published_markers(
        ax, list(PUBLISHED_JOINT), list(PUBLISHED_JOINT.values()), label="published: joint ML"
    )
    published_markers(
        ax,
        list(PUBLISHED_APPROX),
        list(PUBLISHED_APPROX.values()),
        label="published: approximate ML",
        color="#8c564b",
    )
    bound_pub = {**PUBLISHED_BOUND, 100: BOUND_READING_K100}
    published_markers(
        ax,
        sorted(bound_pub),
        [bound_pub[i] for i in sorted(bound_pub)],
        label="published: Theorem 4 bound",
        color=COLORS["upper"],
    )
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("generation k")
    ax.set_ylabel(f"Pr(S_k > {EPS:g})")
    ax.set_title(f"Symmetric 2-GMM: μ0 = {MU0:g}, σ0 = {SIGMA0:g}, n = {N}, {trials} trials")
    ax.legend()

    rows = []
    for est, pub in (
        ("joint-ml-paper", PUBLISHED_JOINT),
        ("joint-ml", PUBLISHED_JOINT),
        ("approx-ml", PUBLISHED_APPROX),
    ):
        _, v, se = curves[est]
        for kv, pv in pub.items():
            rows.append(
                Comparison(
                    "gmm-collapse",
                    f"sigma_above[{est}]",
                    float(kv),
                    at(k, v, kv),
                    at(k, se, kv),
                    None,
                    pv,
                    # The published joint-ML curve was made by the published solver, not by a
                    # global maximiser: ours is shown against it but not judged by it.
                    comparable=est != "joint-ml",
                    reason="other estimator",
                )
            )
    for kv in sorted({**PUBLISHED_BOUND, 100: None}):
        rows.append(
            Comparison(
                "gmm-collapse",
                "theorem4_bound",
                float(kv),
                at(k, bound, kv),
                None,
                None,
                PUBLISHED_BOUND.get(kv),
            )
        )

    def values(est: str, ks) -> str:
        _, v, _ = curves[est]
        return "/".join(f"{at(k, v, kv):.3f}" for kv in ks)

    _, v_a, se_a = curves["approx-ml"]
    above = np.flatnonzero(v_a - 2.0 * se_a > bound)
    holds = (
        "the approximate-ML simulation is below it (within 2 s.e.) at every k."
        if above.size == 0
        else f"the approximate-ML simulation exceeds it by more than 2 s.e. at k = {k[above]}."
    )

    def within_global() -> bool:
        _, v, se = curves["joint-ml"]
        return all(
            abs(at(k, v, kv) - pv) <= 3.0 * math.hypot(at(k, se, kv), READING_ERROR)
            for kv, pv in PUBLISHED_JOINT.items()
        )

    def within(est: str) -> bool:
        zs = [abs(r.z_published or 0.0) for r in rows if r.quantity == f"sigma_above[{est}]"]
        return max(zs) <= 3.0

    verdict = (
        "The published solver's curve agrees with the published one (every point within 3 "
        "combined errors)"
        if within("joint-ml-paper")
        else "The published solver's curve departs from the published one at some k"
    )
    verdict += (
        "; the global maximiser's collapses faster and does not."
        if not within_global()
        else "; so, within the errors, does the global maximiser's."
    )
    ks = list(PUBLISHED_JOINT)
    kstr = "/".join(str(i) for i in ks)
    notes = [
        f"Pr(S_k > {EPS:g}) at k = {kstr}: global joint ML {values('joint-ml', ks)}, the "
        f"published code's solver {values('joint-ml-paper', ks)}, published "
        + "/".join(f"{v:.2f}" for v in PUBLISHED_JOINT.values())
        + f". {verdict} Approximate ML at k = 20/40/60: "
        f"{values('approx-ml', [20, 40, 60])}, published 0.42/0.03/~0.",
        "Why the two joint-ML curves differ. Every stationary point lies on s² = m2 − μ², and "
        "μ = 0 is always a root of the score. The published code solves the score equation with "
        "scipy's fsolve started at μ0 = 1 in every generation and keeps the result. When the "
        "score is still rising at that point, the solver stops at μ = 0 and reports "
        "s = sqrt(m2), a single wide Gaussian that resets the spread. Our joint-ml returns the "
        "global maximiser (checked in the tests against a dense scan and a 2-D optimiser). "
        "joint-ml-paper runs fsolve's algorithm (MINPACK hybrd, one dimension, scipy defaults) "
        "on all trials at once and reports the same root as fsolve for over 99.9% of samples "
        "(tests/test_mixture_paper_solver.py). Rows for the global maximiser carry the "
        "published value for reference but are not comparable, because they are a different "
        "estimator.",
        f"Theorem 4 bound (σ0/ε) exp(−k/(4n)), clipped at 1: it equals 1 up to k = "
        f"{int(k[np.flatnonzero(bound < 1)[0]] - 1)}, then 0.821 at k = 100, 0.302 at k = 140 "
        f"and 0.111 at k = 180. The figure reads 0.80 at k = 100, 0.021 from the formula, just "
        "outside the ±0.02 reading error; that reading is drawn but not compared. The bound is "
        f"proved for the approximate estimator only; {holds}",
    ]
    table = series_table(
        [(f"sigma_above[{est}]", *curves[est]) for est in ESTIMATORS]
        + [("theorem4_bound", k, bound, None)]
    )
    settings = {
        "mu0": MU0,
        "sigma0": SIGMA0,
        "n": N,
        "eps": EPS,
        "eta": ETA,
        "generations": GENERATIONS,
        "trials": trials,
        "estimators": list(ESTIMATORS),
        "paper_solver_start": MU0,
    }
    return Outcome(table, rows, fig, notes, settings)


register(
    Experiment(
        "gmm-scatter",
        "Mixture: approximate vs joint ML, one generation",
        "paper: GMM estimator scatter plot",
        "The two estimators of the symmetric 2-GMM on the same samples.",
        run_scatter,
    )
)
register(
    Experiment(
        "gmm-collapse",
        "Mixture collapse Pr(S_k > ε) and Theorem 4",
        "paper: Theorem 4 plot",
        "Probability that the component spread is still above ε, joint and approximate ML.",
        run_collapse,
    )
)
