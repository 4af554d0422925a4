"""Parameter sweeps that resume, on one machine or a Dask cluster.

``run_sweep(sweep_file, out)`` expands a sweep file into cells (``spec``), runs the cells that
are not finished yet on an executor (``executors``: this process, joblib processes, or Dask) and
writes each finished cell as one Parquet file (``store``). Running it again resumes; ``query``
reads every cell with DuckDB; ``plot`` draws a metric against a swept field.

Example
-------
>>> from modelcollapse.sweep import run_sweep, query                    # doctest: +SKIP
>>> report = run_sweep("docs/configs/sweep-example.toml", "runs/sweep", workers=2)
>>> query("runs/sweep", "SELECT n, p, value FROM cells WHERE generation = 50")
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcollapse.progress import progress_bar
from modelcollapse.sweep.executors import (
    EXECUTORS,
    TINY_SWEEP_DRAWS,
    cell_draws,
    cell_payload,
    check_options,
    default_workers,
    open_executor,
    run_cell,
)
from modelcollapse.sweep.spec import Cell, SweepSpec, load_sweep, parse_sweep
from modelcollapse.sweep.store import SweepDir, connect, query, read_cells, stream_query


@dataclass
class SweepReport:
    """What ``run_sweep`` did.

    ``failed`` lists the cells that failed on this run (``cell``, ``values``, ``error``,
    ``file``: the JSON file with the traceback); they are retried by the next run.
    """

    out: Path
    total: int
    skipped: int
    ran: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    executor: str = "local"
    workers: int | None = None
    moved_to: Path | None = None
    #: Why fewer workers ran than were asked for (a sweep too small for worker processes).
    note: str | None = None
    #: Truncated or corrupt cell files moved to ``failed/`` before their cells ran again.
    broken: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def done(self) -> int:
        """Finished cells (from this run and earlier ones)."""
        return self.skipped + self.ran - len(self.failed)


def run_sweep(
    sweep: str | os.PathLike | SweepSpec,
    out: str | os.PathLike,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    progress: bool | None = None,
) -> SweepReport:
    """Run every unfinished cell of a sweep and write one Parquet file per finished cell.

    Parameters
    ----------
    sweep : a sweep file (TOML) or a parsed ``SweepSpec``.
    out : the sweep directory; an existing directory of the same sweep is resumed.
    executor : ``"local"`` (joblib processes; one worker runs in this process) or ``"dask"``.
    workers : processes (local) or LocalCluster workers (dask); default: the CPUs available.
        Ignored with ``scheduler``. Results do not depend on it.
    scheduler : address of a running Dask scheduler (``tcp://host:8786``); default: start a
        ``LocalCluster`` for this run.
    force : if ``out`` holds a different sweep, move it to ``OUT.old-<hash>`` and start afresh
        (otherwise that is a ConfigError).
    progress : progress bar over cells (default: only on a terminal, after one second).

    Returns
    -------
    SweepReport (a failed cell does not raise: it is listed in ``report.failed``).

    Raises
    ------
    ConfigError
        For an invalid sweep file, executor setting or output directory, before any cell runs.
    """
    started = time.perf_counter()
    # ---- validate everything, write nothing ---------------------------------------------
    spec = sweep if isinstance(sweep, SweepSpec) else load_sweep(sweep)
    check_options(executor, workers, scheduler)
    from modelcollapse.store import check_output_location

    check_output_location(out, field="--out")
    refusal = SweepDir.refusal(Path(out), spec, force=force)
    if refusal is not None:
        from modelcollapse.errors import ConfigError

        raise ConfigError("--out", str(out), refusal)

    # Cells that look unfinished (read only); the executor is opened before anything is created,
    # so that an unreachable scheduler leaves no directory behind.
    probe = SweepDir(out)
    pending = [c for c in spec.cells if not probe.is_done(c)]
    n_workers = None if scheduler else (workers or default_workers())
    note = None
    if executor == "local" and n_workers and n_workers > 1 and pending:
        draws = sum(cell_draws(c.config) for c in pending)
        if len(pending) == 1 or draws < TINY_SWEEP_DRAWS:
            note = (
                f"ran in this process: {len(pending)} cell(s), about {draws:.2g} draws, "
                f"less work than starting {n_workers} worker processes"
            )
            n_workers = 1
    with ExitStack() as stack:
        run_many = None
        if pending:
            run_many = stack.enter_context(
                open_executor(executor, n_workers if not scheduler else workers, scheduler)
            )
        sd = SweepDir.prepare(out, spec, force=force)
        stack.callback(sd.close)
        # Under the lock: what is finished now (another run may have finished cells meanwhile,
        # and broken files have been moved aside).
        todo = [c for c in spec.cells if not sd.is_done(c)]
        report = SweepReport(
            out=sd.path,
            total=len(spec.cells),
            skipped=len(spec.cells) - len(todo),
            ran=0,
            executor=executor,
            workers=n_workers,
            moved_to=sd.moved_to,
            note=note,
            broken=[str(b) for b in sd.broken],
        )
        if todo and run_many is None:
            run_many = stack.enter_context(open_executor(executor, n_workers, scheduler))
        if todo:
            _run_cells(sd, spec, todo, run_many, report, progress, executor, scheduler)
        report.failed.sort(key=lambda f: f["cell"])
        report.elapsed_s = time.perf_counter() - started
        sd.record_run(
            {
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "executor": executor,
                "workers": report.workers,
                "scheduler": scheduler,
                "skipped": report.skipped,
                "ran": report.ran,
                "failed": [f["cell"] for f in report.failed],
                "elapsed_s": round(report.elapsed_s, 3),
            }
        )
    return report


def _run_cells(
    sd: SweepDir,
    spec: SweepSpec,
    todo: list[Cell],
    run_many: Any,
    report: SweepReport,
    progress: bool | None,
    executor: str,
    scheduler: str | None,
) -> None:
    by_index = {c.index: c for c in todo}
    # Local workers (and LocalCluster workers) watch this process and exit when it dies.
    parent = os.getpid() if scheduler is None else None
    bar = progress_bar(
        total=len(todo), unit="cell", desc="sweep", dynamic_ncols=True, progress=progress
    )
    try:
        payloads = [cell_payload(c.index, c.config, c.hash, parent) for c in todo]
        for result in run_many(payloads):
            cell = by_index[result["index"]]
            if result["ok"]:
                sd.write_cell(cell, spec, result["columns"])
            else:
                path = sd.write_failure(cell, result["error"], result["traceback"])
                report.failed.append(
                    {
                        "cell": cell.index,
                        "values": cell.values,
                        "error": result["error"],
                        "file": str(path),
                    }
                )
            report.ran += 1
            bar.update(1)
    finally:
        bar.close()


__all__ = [
    "EXECUTORS",
    "Cell",
    "SweepDir",
    "SweepReport",
    "SweepSpec",
    "connect",
    "load_sweep",
    "parse_sweep",
    "query",
    "read_cells",
    "run_cell",
    "run_sweep",
    "stream_query",
]
