"""A figure of one run directory: metrics over generations with ±2 standard-error bands.

``modelcollapse plot RUN_DIR --y METRIC`` for a directory written by ``simulate --out`` (or
``SimulationResult.save``): summary.parquet holds, per generation and metric, the mean over
trials and its Monte Carlo standard error; the band is value ± 2 stderr.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import resolve_metrics


@dataclass
class RunFigure:
    path: Path
    metrics: list[str]
    generations: tuple[int, int]


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run directory (summary.parquet and run.json)."""
    p = Path(path)
    return (p / "summary.parquet").is_file() and (p / "run.json").is_file()


def plot_run(
    run_dir: str | os.PathLike,
    *,
    y: list[str],
    out: str | os.PathLike | None = None,
    logy: bool = False,
) -> RunFigure:
    """Draw the metrics ``y`` of a run directory against the generation.

    A parametrised name without its parameter (``sigma_above``) draws every one of them;
    deprecated names are accepted as in ``simulate``. The figure goes to ``out`` (.png, .svg or
    .pdf; default RUN_DIR/plots/METRIC.png), without dates, so the same run gives the same file.
    """
    from modelcollapse.store import read_parquet

    run = Path(run_dir)
    if not is_run_dir(run):
        raise ConfigError("RUN_DIR", str(run), "a run directory with summary.parquet and run.json")
    if not y:
        raise ConfigError("--y", "", "at least one metric")
    summary = read_parquet(run / "summary.parquet")
    available = list(dict.fromkeys(summary["metric"].tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("default", DeprecationWarning)
        names = resolve_metrics(list(y), available)
    for name in names:
        if name not in available:
            raise ConfigError("--y", name, f"a metric of this run: {', '.join(available)}")
    stem = "+".join(y).replace("/", "_").replace("[", "_").replace("]", "").replace("=", "")
    path = Path(out) if out is not None else run / "plots" / f"{stem}.png"
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise ConfigError("--out", str(path), "a .png, .svg or .pdf file")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "modelcollapse"
    fig, ax = plt.subplots(figsize=(6.4, 4), layout="constrained")
    lo = hi = 0
    for name in names:
        rows = summary[summary["metric"] == name]
        g = np.asarray(rows["generation"], dtype=float)
        v = np.asarray(rows["value"], dtype=float)
        e = np.nan_to_num(np.asarray(rows["stderr"], dtype=float))
        (line,) = ax.plot(g, v, lw=1.2, label=name)
        ax.fill_between(g, v - 2 * e, v + 2 * e, color=line.get_color(), alpha=0.25, lw=0)
        lo, hi = int(g.min()), int(g.max())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("generation k")
    ax.set_ylabel(names[0] if len(names) == 1 else "value")
    ax.set_title(f"{run.name}: mean over trials, band ±2 standard errors", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Date": None} if suffix in (".svg", ".pdf") else {"Software": None}
    if suffix == ".pdf":
        metadata["CreationDate"] = None
        metadata.pop("Date")
    fig.savefig(path, metadata=metadata, dpi=150)
    plt.close(fig)
    return RunFigure(path, names, (lo, hi))
