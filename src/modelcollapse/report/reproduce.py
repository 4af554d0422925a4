"""``modelcollapse reproduce``: run the registered experiments and write the report directory.

The directory holds ``index.html`` (one self-contained file), ``figures/ID.png`` and ``.svg``,
``results/ID.parquet`` (the numbers behind each figure), ``comparison.csv`` (columns experiment,
quantity, k, ours, ours_stderr, theory, published) and ``report.json`` (settings, timings,
versions). It is assembled in a temporary sibling directory and renamed into place at the end.
"""

from __future__ import annotations

import base64
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


def _existing_report(out: Path) -> dict[str, Any] | None:
    """report.json of the modelcollapse report in ``out``, or None when ``out`` is not one."""
    if not (out / MARKER).exists() or not (out / "report.json").is_file():
        return None
    import json

    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _check_target(
    out: Path, ids: list[str], only: bool, overwrite: bool, scale: str, seed: int, label: str
) -> list[str]:
    """Which experiments of an existing report in ``out`` to keep (an in-place update by
    ``--only``); refuses (ConfigError) a foreign non-empty directory unless ``overwrite``."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())) or overwrite:
        return []
    old = _existing_report(out)
    if old is None:
        raise ConfigError(
            "--out",
            str(out),
            "a new or empty directory or a report written by modelcollapse reproduce, or "
            "pass --overwrite to replace this directory",
        )
    if not only:
        return []
    kept = [e["id"] for e in old.get("experiments", []) if e["id"] not in ids]
    for name, value, theirs in (
        ("--scale", scale, old.get("scale")),
        ("--seed", seed, old.get("seed")),
        ("--corpus", label, old.get("corpus")),
    ):
        if theirs != value:
            raise ConfigError(
                name,
                value,
                f"{theirs!r} to match the report in {out} that --only updates, or pass "
                "--overwrite to replace that report",
            )
    missing = [i for i in kept if not (out / "views" / f"{i}.json").is_file()]
    if missing:
        raise ConfigError(
            "--only",
            ",".join(ids),
            f"experiments of a report that can be updated in place; the report in {out} "
            "predates in-place updates (no views/ for " + ", ".join(missing) + "): rerun "
            "without --only, or pass --overwrite",
        )
    return kept


def _copy_kept(old: Path, tmp: Path, kept: list[str]) -> list[dict[str, Any]]:
    """Copy the kept experiments' files into the new report; their report.json entries."""
    import json
    import shutil

    for exp_id in kept:
        for sub, suffixes in (
            ("figures", ("png", "svg")),
            ("results", ("parquet",)),
            ("errors", ("txt",)),
            ("views", ("json",)),
        ):
            for suffix in suffixes:
                src = old / sub / f"{exp_id}.{suffix}"
                if src.is_file():
                    (tmp / sub).mkdir(exist_ok=True)
                    shutil.copy2(src, tmp / sub / src.name)
    entries = json.loads((old / "report.json").read_text(encoding="utf-8"))["experiments"]
    return [e for e in entries if e["id"] in kept]


def reproduce(
    out: str | Path = "modelcollapse-report",
    *,
    only: Sequence[str] | None = None,
    scale: str = "paper",
    corpus: str | Path | None = None,
    seed: int = 20250101,
    workers: int = 1,
    progress: bool | None = None,
    overwrite: bool = False,
) -> ReproduceSummary:
    """Run the experiments and write the report directory ``out``; see the module docstring.

    ``out`` may be new, empty or an earlier report of this function. With ``only`` over an
    earlier report, the report is updated in place: the other experiments' files and results
    are kept and index.html, comparison.csv and report.json are rebuilt from all of them (the
    scale, seed and corpus must then be the report's). ``overwrite`` replaces any directory,
    starting from scratch.
    """
    import json

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
    kept = _check_target(out, ids, bool(only), overwrite, scale, seed, label)
    ctx = Context(scale=scale, seed=seed, corpus=corpus, corpus_label=label, workers=workers)

    summary = ReproduceSummary(out)
    new_views: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with atomic_directory(out, overwrite=True) as tmp:
        (tmp / MARKER).write_text("modelcollapse reproduce output; safe to replace\n")
        (tmp / "views").mkdir()
        old_entries = _copy_kept(out, tmp, kept) if kept else []
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
            comparisons: list[dict[str, Any]] = []
            try:
                outcome = exp.run(ctx)
            except ExperimentSkipped as exc:
                seconds = time.perf_counter() - t0
                reason = f"skipped: {exc}"
                view = experiment_view(exp, None, None, seconds, reason, skipped=True)
                entry = {
                    "id": exp_id, "ok": True, "skipped": True, "time": seconds, "verdict": reason
                }
            except Exception as exc:  # one failing experiment must not lose the others
                seconds = time.perf_counter() - t0
                error = f"{type(exc).__name__}: {exc}"
                (tmp / "errors").mkdir(exist_ok=True)
                (tmp / "errors" / f"{exp_id}.txt").write_text(traceback.format_exc())
                view = experiment_view(exp, None, None, seconds, error)
                entry = {"id": exp_id, "ok": False, "time": seconds, "verdict": error}
            else:
                seconds = time.perf_counter() - t0
                paths = save_figure(outcome.figure, tmp / "figures", exp_id)
                (tmp / "results").mkdir(exist_ok=True)
                write_parquet(
                    outcome.table,
                    tmp / "results" / f"{exp_id}.parquet",
                    {"experiment": exp_id, "settings": outcome.settings},
                )
                comparisons = [c.as_row() for c in outcome.comparisons]
                verdict, ok = outcome.verdict()
                view = experiment_view(exp, outcome, paths["png"], seconds)
                entry = {
                    "id": exp_id,
                    "ok": ok,
                    "status": outcome.status(),
                    "time": seconds,
                    "verdict": verdict,
                    "settings": outcome.settings,
                }
            summary.results.append(entry)
            stored = {k: v for k, v in view.items() if k != "png"}
            stored["comparisons"] = comparisons
            write_json(tmp / "views" / f"{exp_id}.json", stored)
            new_views[exp_id] = view
        bar.close()
        total = time.perf_counter() - started

        # Index, comparison table and report.json list every experiment of the report: in the
        # order asked for on a fresh report, in registry order when kept ones are merged in.
        order = [i for i in REGISTRY if i in new_views or i in kept] if kept else list(new_views)
        views, comparisons = [], []
        for exp_id in order:
            stored = json.loads((tmp / "views" / f"{exp_id}.json").read_text(encoding="utf-8"))
            comparisons += stored.pop("comparisons")
            view = new_views.get(exp_id) or stored
            png = tmp / "figures" / f"{exp_id}.png"
            if "png" not in view and png.is_file():
                view["png"] = base64.b64encode(png.read_bytes()).decode("ascii")
            views.append(view)
        entries = {e["id"]: e for e in old_entries + summary.results}
        with (tmp / "comparison.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COMPARISON_COLUMNS)
            writer.writeheader()
            for row in comparisons:
                writer.writerow({k: ("" if row[k] is None else row[k]) for k in COMPARISON_COLUMNS})
        render_report(
            tmp / "index.html",
            views,
            version=__version__,
            scale=scale,
            seed=seed,
            corpus_label=label,
            total_time=total,
            reading_error=READING_ERROR,
            updated=[i for i in order if i in new_views] if kept else None,
        )
        write_json(
            tmp / "report.json",
            {
                "scale": scale,
                "seed": seed,
                "corpus": label,
                "total_time_s": round(total, 3),
                "updated_in_place": sorted(new_views) if kept else None,
                "experiments": [entries[i] for i in order],
                "versions": provenance(),
            },
        )
    return summary
