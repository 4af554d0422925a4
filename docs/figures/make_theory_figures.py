"""Draw one figure per family: the paper's bounds, the exact value and, when the simulation
engine is installed, a Monte Carlo estimate, into docs/figures/theory_*.png.

Run from the repository root:  python docs/figures/make_theory_figures.py [--no-sim]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from modelcollapse import theory as th  # noqa: E402

OUT = Path(__file__).resolve().parent
CORPUS = Path("/work/shared/data/wikitext2-train-500k.txt")
TRIALS = 2000
plt.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "font.size": 9, "svg.hashsalt": "mc"})


def _simulate(family, metric, **kw):
    """(k, value, stderr) from the engine, or None when it is not available."""
    try:
        from modelcollapse import simulate

        res = simulate(family, trials=TRIALS, seed=2025, **kw)
        return res.metric(metric)
    except Exception as exc:  # the engine is optional for the theory docs
        print(f"  no simulation for {family}: {exc!r}")
        return None


def _overlay(ax, sim, label="simulation"):
    if sim is None:
        return
    k, v, se = (np.asarray(a, dtype=float) for a in sim)
    ax.errorbar(k, v, yerr=2 * se, fmt="o", ms=2.5, lw=0.8, color="k", label=f"{label} (±2 se)")


def _save(fig, name):
    fig.tight_layout()
    path = OUT / f"theory_{name}.png"
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size // 1024} kB)")


def bernoulli(sim: bool) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, (p0, n) in zip(axes, [(0.001, 10_000), (0.01, 100)], strict=True):
        k = np.arange(0, 51)
        lo, hi = th.theorem1_bounds(p0, n, k)
        ax.fill_between(k, lo, hi, color="tab:blue", alpha=0.2, label="Theorem 1 bounds")
        ax.plot(k, th.bernoulli_survival(p0, n, k), color="tab:red", label="exact (binomial chain)")
        if sim:
            _overlay(ax, _simulate("bernoulli", "survival", n=n, generations=50, params={"p": p0}))
        ax.set(title=f"Pr(P_k ≠ 0), p0={p0:g}, n={n}", xlabel="generation k")
        if p0 == 0.01:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    _save(fig, "bernoulli")


def poisson(sim: bool) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    k = np.arange(0, 501)
    for lam, color in [(1.0, "tab:red"), (10.0, "tab:purple")]:
        ax.plot(
            k, th.theorem2_survival(lam, 10, k), color=color, label=f"Theorem 2 (exact), λ0={lam:g}"
        )
        if sim:
            _overlay(
                ax,
                _simulate(
                    "poisson",
                    "survival",
                    n=10,
                    generations=500,
                    params={"lam": lam},
                    record_every=25,
                ),
                label=f"simulation λ0={lam:g}",
            )
    ax.set(yscale="log", title="Pr(Λ_k ≠ 0), n=10", xlabel="generation k")
    ax.legend(fontsize=7)
    _save(fig, "poisson")


def categorical() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    k = np.arange(0, 11)
    rng = np.random.default_rng(0)
    p = 1.0 / (np.arange(1, 1001) + 2.7)
    counts = rng.multinomial(1000, p / p.sum())
    starts = [("Zipf a=1, b=2.7, n=1000", counts)]
    if CORPUS.exists():
        words = re.sub(r"\W+", " ", CORPUS.read_text(encoding="utf-8").lower()).split()
        starts.append(
            (
                f"WikiText-2 sample, n={len(words)}",
                np.array(list(collections.Counter(words).values())),
            )
        )
    for ax, (title, c) in zip(axes, starts, strict=False):
        res = th.vocabulary_left(c, k)
        ax.fill_between(
            k, res.lower, res.upper, color="tab:blue", alpha=0.3, label="Corollary 1 bounds"
        )
        ax.plot(k, res.exact, "-", color="tab:red", label="exact E[uniq_k]/m")
        ax.set(title=title, xlabel="generation k", ylabel="fraction of vocabulary")
        ax.legend(fontsize=7)
    if len(starts) == 1:
        axes[1].axis("off")
    _save(fig, "categorical")


def gaussian(sim: bool) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    n, eps = 10, 0.1
    k = np.arange(0, 201)
    ax.plot(k, th.sigma_tail(eps, 1.0, n, k), color="tab:red", lw=2, label="exact")
    ax.plot(k, th.moment_bound(eps, 1.0, n, k, s=0.35), label="moment bound s=0.35 (paper)")
    ax.plot(k, th.best_moment_bound(eps, 1.0, n, k)[0], "--", label="moment bound, best s")
    ax.plot(k, th.theorem3_bound(eps, 1.0, n, k), ":", label="Theorem 3 closed form")
    ax.plot(k, th.bertrand_bound(eps, 1.0, n, k), "-.", label="Bertrand et al.")
    if sim:
        _overlay(
            ax,
            _simulate(
                "gaussian",
                f"sigma_above[eps={eps:g}]",
                n=n,
                generations=200,
                params={"mu": 0.0, "sigma": 1.0},
                eps=[eps],
                record_every=10,
            ),
        )
    ax.set(title="Pr(Σ_k > 0.1), n=10, unbiased variance", xlabel="generation k")
    ax.legend(fontsize=7)
    _save(fig, "gaussian")


def mixture() -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    k = np.arange(0, 201)
    ax.plot(k, th.theorem4_bound(0.1, 1.0, 10, k), label="Theorem 4 bound (approx. joint ML)")
    ax.plot(
        k,
        th.sigma_tail(0.1, 1.0, 10, k),
        color="tab:red",
        label="exact, single Gaussian (reference)",
    )
    ax.set(title="Symmetric 2-GMM: Pr(Σ_k > 0.1), n=10", xlabel="generation k")
    ax.legend(fontsize=7)
    _save(fig, "mixture2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-sim", action="store_true", help="theory only")
    args = parser.parse_args()
    sim = not args.no_sim
    bernoulli(sim)
    poisson(sim)
    categorical()
    gaussian(sim)
    mixture()


if __name__ == "__main__":
    main()
