"""Figure of a unigram forgetting run: when words are forgotten, against their original count.

Left: fraction of the vocabulary alive per generation, simulation (+-2 standard errors) with
the exact E[uniq_k]/m and the Corollary 1 bounds (Suresh, Thangaraj and Khandavally, AISTATS
2025). Right: forgetting time of every (word, trial) pair against the word's original count,
the median per count, the exact median of the binomial chain for a few counts, the linear law
k = 2c / ln 2 = 2.885 c of the Poisson branching limit (which the exact median reaches only from
counts of about 50: the ratio is 2.0 at c = 1, 2.7 at c = 10, 2.87 at c = 100 for n = 10^5), and
the least-squares slope through the origin fitted to the observed medians.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from modelcollapse.experiments.plotting import COLORS, STYLE  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from modelcollapse.forgetting import ForgettingResult

#: Style applied only while this module draws (the caller's rcParams are left alone).
_STYLE = STYLE

#: Largest number of (word, trial) points drawn; more are thinned by a fixed stride.
MAX_POINTS = 20_000

__all__ = ["forgetting_figure", "save_figure"]


def save_figure(fig: Figure, directory: str | os.PathLike, name: str) -> dict[str, Path]:
    """Save ``fig`` as ``name.png`` and ``name.svg`` in ``directory`` with deterministic bytes
    (no dates or software versions in the metadata, fixed SVG hash salt) and close it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"png": directory / f"{name}.png", "svg": directory / f"{name}.svg"}
    with plt.rc_context(_STYLE):
        fig.savefig(paths["png"], dpi=110, metadata={"Software": None})
        fig.savefig(paths["svg"], metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def forgetting_figure(result: ForgettingResult, *, scale: str = "log") -> Figure:
    """Two-panel figure of ``result``; ``scale`` is ``"log"`` (log-log, default) or ``"linear"``
    for the forgetting-time panel."""
    if scale not in ("log", "linear"):
        raise ValueError(f"scale must be 'log' or 'linear', not {scale!r}")
    with plt.rc_context(_STYLE):
        fig, (ax_u, ax_t) = plt.subplots(1, 2, figsize=(11.0, 4.2))
        _draw(result, ax_u, ax_t, scale)
        fig.tight_layout()
    return fig


def _draw(result: ForgettingResult, ax_u, ax_t, scale: str) -> None:
    from modelcollapse.forgetting import ALIVE, LINEAR_LAW_SLOPE

    table = result.generation_table()
    k = table["generation"]
    ax_u.errorbar(
        k,
        table["uniq_frac"],
        yerr=None if result.trials < 2 else 2 * table["stderr"],
        fmt="o",
        ms=3,
        color=COLORS["sim"],
        label=f"simulation, {result.trials} trials (±2 s.e.)",
    )
    if result.theory is not None:
        ax_u.plot(k, table["exact"], "-", color=COLORS["exact"], lw=1, label="exact E[uniq_k]/m")
        ax_u.plot(k, table["lower"], "--", color=COLORS["lower"], lw=1, label="Corollary 1 lower")
        ax_u.plot(k, table["upper"], ":", color=COLORS["upper"], lw=1, label="Corollary 1 upper")
    ax_u.set_xlabel("generation k")
    ax_u.set_ylabel("fraction of the vocabulary alive")
    ax_u.set_title(f"unigram recursion, n = {result.n:,}, m = {result.m:,}")
    ax_u.legend()

    counts = np.tile(result.counts, result.trials)
    fa = result.forgotten_at.ravel()
    hit = (fa != ALIVE) & (counts > 0)
    c_hit, t_hit = counts[hit], fa[hit]
    if c_hit.size > MAX_POINTS:
        stride = int(np.ceil(c_hit.size / MAX_POINTS))
        c_hit, t_hit = c_hit[::stride], t_hit[::stride]
    # Deterministic jitter (a function of the index) separates the integer points visually.
    jitter = 1.0 + 0.15 * (((np.arange(c_hit.size) * 0.6180339887) % 1.0) - 0.5)
    ax_t.plot(
        c_hit * jitter,
        t_hit,
        ".",
        ms=2,
        alpha=0.25,
        color=COLORS["sim"],
        label="forgotten (word, trial)",
        # Up to MAX_POINTS markers as SVG elements made the SVG slow to write (seconds) and
        # to open; as an embedded image they cost what they cost in the PNG.
        rasterized=True,
    )
    med = result.median_forgetting()
    ok = np.isfinite(med["median_forgotten_at"])
    ax_t.plot(
        med["count"][ok],
        med["median_forgotten_at"][ok],
        "o",
        ms=4,
        color=COLORS["other"],
        label="median per count",
    )
    # Words far more frequent than any forgotten one only stretch the axis: stop a little past
    # the largest forgotten count or the count the law says is forgotten by the last generation.
    c_seen = float(c_hit.max()) if c_hit.size else 1.0
    c_max = max(c_seen, result.generations / LINEAR_LAW_SLOPE, 1.0)
    c_line = np.geomspace(1.0, c_max, 200) if scale == "log" else np.linspace(0.0, c_max, 200)
    ax_t.plot(
        c_line,
        LINEAR_LAW_SLOPE * c_line,
        "-",
        color=COLORS["exact"],
        lw=1,
        label=f"law: k = 2c/ln 2 = {LINEAR_LAW_SLOPE:.3f} c",
    )
    if result.theory is not None:
        # The law is the large-count limit; the exact median (binomial chain, certified) shows
        # where it holds. A few counts only: each costs up to a second or two.
        from modelcollapse.theory import forgetting_generation_bracket

        c_exact = np.array([c for c in (1, 2, 3, 5, 10, 20, 50, 100) if c <= c_max])
        if c_exact.size:
            fg = forgetting_generation_bracket(c_exact, result.n, 0.5)
            ax_t.plot(
                c_exact[fg.exact],
                fg.generation[fg.exact],
                "-s",
                ms=3,
                color=COLORS["lower"],
                lw=1,
                label="exact median (binomial chain)",
            )
    slope = result.fitted_slope()
    if np.isfinite(slope):
        ax_t.plot(
            c_line, slope * c_line, "--", color=COLORS["upper"], lw=1, label=f"fit: {slope:.3f} c"
        )
    ax_t.set_xlabel("original count c")
    ax_t.set_ylabel("generation at which the word is forgotten")
    censored = 1.0 - hit.sum() / max(1, np.count_nonzero(counts))
    ax_t.set_title(
        f"forgetting time ({censored:.0%} of pairs still alive at k = {result.generations})"
    )
    if scale == "log":
        ax_t.set_xscale("log")
        ax_t.set_yscale("log")
        top = max(float(result.generations), 1.0) * 1.5
        ax_t.set_ylim(0.8, top)
        ax_t.set_xlim(0.8, c_max * 1.3)
    else:
        ax_t.set_ylim(0, result.generations * 1.05 + 1)
        ax_t.set_xlim(0, c_max * 1.05)
    ax_t.legend(loc="lower right")
