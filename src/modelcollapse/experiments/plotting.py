"""Deterministic matplotlib figures: same numbers, same bytes.

SVG output uses a fixed hash salt and no date; PNG output carries no timestamp. Simulation is drawn
with Monte Carlo error bars, theory as lines, published values as open markers, so each figure puts
the three side by side (DESIGN.md, figures).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: The project's figure style; ``svg.hashsalt`` makes SVG output byte-identical between runs.
STYLE = {
    "svg.hashsalt": "modelcollapse",
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.size": 9,
}


#: Colours used consistently: simulation, exact theory, paper bound, other bounds, published.
#: (report/forgetting_plot.py uses the same constants.)
COLORS = {
    "sim": "#1f77b4",
    "exact": "#000000",
    "lower": "#2ca02c",
    "upper": "#d62728",
    "other": "#9467bd",
    "published": "#ff7f0e",
}


def _pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use: importing it costs about
    a second, which every command that imports the experiments package (``forget`` for its
    theory columns) paid even when it drew nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, width: float = 6.4, height: float = 4.0):
    """A figure with ``ncols`` axes side by side, in the project's style.

    The style is applied to matplotlib's global settings here, when an experiment draws, not at
    import: text drawn later on the figure (labels, legends) must see it too.
    """
    plt = _pyplot()
    plt.rcParams.update(STYLE)
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, list(axes[0])


def sim_errorbars(ax, k, value, stderr, label: str = "simulation", **kw) -> None:
    """Simulation points with +-2 standard-error bars (about 95%)."""
    kw.setdefault("color", COLORS["sim"])
    ax.errorbar(
        k,
        value,
        yerr=2 * np.asarray(stderr),
        fmt="o",
        ms=3,
        lw=1,
        capsize=0,
        label=f"{label} (±2 s.e.)",
        **kw,
    )


def published_markers(ax, k, value, label: str = "published (read off the paper)", **kw) -> None:
    kw.setdefault("color", COLORS["published"])
    ax.plot(k, value, "D", mfc="none", ms=6, mew=1.3, label=label, **kw)


def save_figure(fig, directory: str | os.PathLike, name: str) -> dict[str, Path]:
    """Save ``fig`` as ``name.png`` and ``name.svg`` in ``directory`` (deterministic bytes)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"png": directory / f"{name}.png", "svg": directory / f"{name}.svg"}
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=110, metadata={"Software": None})
    fig.savefig(paths["svg"], metadata={"Date": None, "Creator": None})
    _pyplot().close(fig)
    return paths
