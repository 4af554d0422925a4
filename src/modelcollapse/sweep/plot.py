"""Figures from a sweep: one metric at one generation against a swept field.

Cells that share the plotted field (and the hue field) but differ in some other swept field are
averaged, their Monte Carlo standard errors combined (sqrt(sum se^2) / k); the fields averaged
over are reported so that nothing is merged silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.sweep.store import SweepDir, connect


@dataclass
class SweepFigure:
    """The written figure and what it shows."""

    path: Path
    x: str
    y: str
    hue: str | None
    generation: int
    averaged_over: list[str] = field(default_factory=list)
    points: int = 0


def _column(name: str, swept: list[str], what: str) -> str:
    col = name.split(".", 1)[1] if name.startswith("params.") else name
    if col not in swept:
        raise ConfigError(what, name, f"a swept field of this sweep: {', '.join(swept) or 'none'}")
    return col


def plot_sweep(
    sweep_dir: str | os.PathLike,
    *,
    x: str,
    y: str,
    hue: str | None = None,
    at_generation: int | None = None,
    out: str | os.PathLike | None = None,
    logx: bool | None = None,
    logy: bool = False,
) -> SweepFigure:
    """Draw metric ``y`` at generation ``at_generation`` (default: the last) against field ``x``.

    Parameters
    ----------
    sweep_dir : a sweep directory (``run_sweep``'s ``out``).
    x, hue : swept fields (``n``, ``p`` or ``params.p``, ``estimator``, ...).
    y : a metric of the summaries (``survival``, ``sigma2_mean``, ...).
    out : the figure file (.png, .svg or .pdf); default ``DIR/plots/{y}-vs-{x}.png``.
    logx : logarithmic x axis; default: when x is positive and spans over two decades.

    Returns
    -------
    SweepFigure with the path written and the fields averaged over.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sd = SweepDir.open(sweep_dir)
    path = Path(out) if out is not None else sd.path / "plots" / f"{y}-vs-{x.split('.')[-1]}.png"
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise ConfigError("--out", str(path), "a .png, .svg or .pdf file")
    from modelcollapse.store import check_output_location

    check_output_location(path, field="--out", is_file=True)
    info = sd.info()
    swept = list(info.get("columns", {}))
    xcol = _column(x, swept, "--x")
    hcol = _column(hue, swept, "--hue") if hue is not None else None
    if hcol == xcol:
        raise ConfigError("--hue", hue, "a field other than --x")
    con = connect(sd.path)
    try:
        metrics = [
            r[0] for r in con.execute("SELECT DISTINCT metric FROM cells ORDER BY 1").fetchall()
        ]
        if y not in metrics:
            raise ConfigError("--y", y, f"a metric of this sweep: {', '.join(metrics)}")
        gens = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT generation FROM cells WHERE metric = ? ORDER BY 1", [y]
            ).fetchall()
        ]
        if at_generation is None:
            at_generation = int(gens[-1])
        elif at_generation not in gens:
            raise ConfigError(
                "--at-generation",
                at_generation,
                f"a recorded generation of {y}: {gens[0]}..{gens[-1]}",
            )
        others = [c for c in swept if c not in (xcol, hcol)]
        varying = []
        for col in others:
            count = con.execute(f'SELECT count(DISTINCT "{col}") FROM cells').fetchone()[0]
            if count > 1:
                varying.append(col)
        keys = [f'"{xcol}"'] + ([f'"{hcol}"'] if hcol else [])
        rows = con.execute(
            f"SELECT {', '.join(keys)}, avg(value), sqrt(sum(stderr * stderr)) / count(*) "
            f"FROM cells WHERE metric = ? AND generation = ? "
            f"GROUP BY ALL ORDER BY {', '.join(keys)}",
            [y, at_generation],
        ).fetchall()
    finally:
        con.close()

    series: dict[object, list[tuple[object, float, float]]] = {}
    for row in rows:
        label = row[1] if hcol else None
        series.setdefault(label, []).append((row[0], row[-2], row[-1]))

    plt.rcParams["svg.hashsalt"] = "modelcollapse"
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    numeric = all(isinstance(p[0], (int, float, np.number)) for s in series.values() for p in s)
    order = sorted(series, key=lambda v: (v is None, isinstance(v, str), v if v is not None else 0))
    for label in order:
        points = series[label]
        xs = [p[0] for p in points]
        ys = np.array([np.nan if p[1] is None else p[1] for p in points], dtype=float)
        es = np.array([np.nan if p[2] is None else p[2] for p in points], dtype=float)
        pos = xs if numeric else np.arange(len(xs))
        ax.errorbar(
            pos,
            ys,
            yerr=np.nan_to_num(es),
            marker="o",
            capsize=3,
            label=None if hcol is None else f"{hcol}={label}",
        )
        if not numeric:
            ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    if numeric and logx is None:
        xs_all = np.array([p[0] for s in series.values() for p in s], dtype=float)
        logx = bool(xs_all.size and xs_all.min() > 0 and xs_all.max() / xs_all.min() > 100)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xcol)
    ax.set_ylabel(f"{y} at generation {at_generation}")
    title = f"{y} vs {xcol}"
    if varying:
        title += f" (mean over {', '.join(varying)})"
    ax.set_title(title, fontsize=10)
    if hcol is not None:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    path.parent.mkdir(parents=True, exist_ok=True)
    # No dates or software versions in the file: the same sweep gives the same bytes.
    metadata = {"Date": None} if suffix in (".svg", ".pdf") else {"Software": None}
    if suffix == ".pdf":
        metadata["CreationDate"] = None
        metadata.pop("Date")
    # Written next to its place and renamed: a full disk leaves no truncated figure behind.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{suffix}")
    try:
        fig.savefig(tmp, metadata=metadata, dpi=150)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return SweepFigure(path, xcol, y, hcol, int(at_generation), varying, len(rows))
