"""``modelcollapse reproduce``: run the registered experiments and write the report directory.

The directory holds ``index.html`` (one self-contained file), ``figures/ID.png`` and ``.svg``,
``results/ID.parquet`` (the numbers behind each figure), ``comparison.csv`` (columns experiment,
quantity, k, ours, ours_stderr, theory, published) and ``report.json`` (settings, timings,
versions). It is assembled in a temporary sibling directory and renamed into place at the end.
"""

from __future__ import annotations

import csv
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcollapse import __version__
from modelcollapse.errors import ConfigError
from modelcollapse.experiments import REGISTRY, Context
from modelcollapse.experiments.base import READING_ERROR, ExperimentSkipped
from modelcollapse.experiments.plotting import save_figure
from modelcollapse.progress import progress_bar
from modelcollapse.report.html import experiment_view, render_report
from modelcollapse.store import atomic_directory, provenance, write_json, write_parquet

SCALES = ("paper", "large", "quick")
#: A file that marks a directory as a modelcollapse report, so re-running may replace it.
MARKER = ".modelcollapse-report"
COMPARISON_COLUMNS = ["experiment", "quantity", "k", "ours", "ours_stderr", "theory", "published"]


def default_corpus() -> Path | None:
    """The WikiText sample of ../shared/data, looked for from the working directory and from the
    source checkout; None when absent."""
    name = Path("shared") / "data" / "wikitext2-train-500k.txt"
    candidates = [
        Path.cwd().parent / name,
        Path.cwd() / name,
        Path(__file__).resolve().parents[4] / name,
    ]
    return next((p for p in candidates if p.is_file()), None)


@dataclass
class ReproduceSummary:
    out: Path
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.results)


def check_ids(only: Sequence[str] | None) -> list[str]:
    if not only:
        return list(REGISTRY)
    for exp_id in only:
        if exp_id not in REGISTRY:
            raise ConfigError("--only", exp_id, f"one of: {', '.join(REGISTRY)}")
    return list(dict.fromkeys(only))


def reproduce(
    out: str | Path = "modelcollapse-report",
    *,
    only: Sequence[str] | None = None,
    scale: str = "paper",
    corpus: str | Path | None = None,
    seed: int = 20250101,
    workers: int = 1,
    progress: bool | None = None,
) -> ReproduceSummary:
    """Run the experiments and write the report directory ``out``; see the module docstring."""
    ids = check_ids(only)
    if scale not in SCALES:
        raise ConfigError("--scale", scale, f"one of: {', '.join(SCALES)}")
    # Settings every experiment would reject: refused before the report directory exists.
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("--seed", seed, "an integer >= 0")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError("--workers", workers, "an integer >= 1")
    if corpus is not None:
        corpus = Path(corpus)
        if not corpus.is_file():
            raise ConfigError("--corpus", str(corpus), "an existing UTF-8 text file")
        label = f"{corpus.name} (given with --corpus)"
    else:
        corpus = default_corpus()
        label = (
            f"{corpus.name} (the tokenised WikiText-2 sample of ../shared/data)"
            if corpus
            else "none found: a real vocabulary from the wordfreq extra is used"
        )
    out = Path(out)
    replace = out.exists() and (out / MARKER).exists()
    ctx = Context(scale=scale, seed=seed, corpus=corpus, corpus_label=label, workers=workers)

    summary = ReproduceSummary(out)
    views, comparisons = [], []
    started = time.perf_counter()
    with atomic_directory(out, overwrite=replace) as tmp:
        (tmp / MARKER).write_text("modelcollapse reproduce output; safe to replace\n")
        bar = progress_bar(
            ids,
            desc="reproduce",
            unit="experiment",
            progress=progress,
        )
        for exp_id in bar:
            bar.set_postfix_str(exp_id)
            exp = REGISTRY[exp_id]
            t0 = time.perf_counter()
            try:
                outcome = exp.run(ctx)
            except ExperimentSkipped as exc:
                seconds = time.perf_counter() - t0
                reason = f"skipped: {exc}"
                views.append(experiment_view(exp, None, None, seconds, reason, skipped=True))
                summary.results.append(
                    {"id": exp_id, "ok": True, "skipped": True, "time": seconds, "verdict": reason}
                )
                continue
            except Exception as exc:  # one failing experiment must not lose the others
                seconds = time.perf_counter() - t0
                error = f"{type(exc).__name__}: {exc}"
                (tmp / "errors").mkdir(exist_ok=True)
                (tmp / "errors" / f"{exp_id}.txt").write_text(traceback.format_exc())
                views.append(experiment_view(exp, None, None, seconds, error))
                summary.results.append(
                    {"id": exp_id, "ok": False, "time": seconds, "verdict": error}
                )
                continue
            seconds = time.perf_counter() - t0
            paths = save_figure(outcome.figure, tmp / "figures", exp_id)
            (tmp / "results").mkdir(exist_ok=True)
            write_parquet(
                outcome.table,
                tmp / "results" / f"{exp_id}.parquet",
                {"experiment": exp_id, "settings": outcome.settings},
            )
            comparisons += [c.as_row() for c in outcome.comparisons]
            verdict, ok = outcome.verdict()
            views.append(experiment_view(exp, outcome, paths["png"], seconds))
            summary.results.append(
                {
                    "id": exp_id,
                    "ok": ok,
                    "time": seconds,
                    "verdict": verdict,
                    "settings": outcome.settings,
                }
            )
        bar.close()
        with (tmp / "comparison.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COMPARISON_COLUMNS)
            writer.writeheader()
            for row in comparisons:
                writer.writerow({k: ("" if row[k] is None else row[k]) for k in COMPARISON_COLUMNS})
        total = time.perf_counter() - started
        render_report(
            tmp / "index.html",
            views,
            version=__version__,
            scale=scale,
            seed=seed,
            corpus_label=label,
            total_time=total,
            reading_error=READING_ERROR,
        )
        write_json(
            tmp / "report.json",
            {
                "scale": scale,
                "seed": seed,
                "corpus": label,
                "total_time_s": round(total, 3),
                "experiments": summary.results,
                "versions": provenance(),
            },
        )
    return summary
