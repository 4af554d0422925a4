"""``modelcollapse sweep``, ``results`` and ``plot``: grids of runs, resumable, local or Dask."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

import click

from modelcollapse.commands._common import handles_config_errors, json_dumps
from modelcollapse.errors import ConfigError

#: Exit status when some cells failed (they are retried by the next run).
EXIT_CELLS_FAILED = 1
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Sweep directory (cells/*.parquet, sweep.json); an existing one is resumed.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: processes on this machine (joblib); dask: a dask.distributed cluster.",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes (local, or a Dask LocalCluster); default: the CPUs available.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Address of a running Dask scheduler (tcp://host:8786); default: a LocalCluster.",
)
@click.option(
    "--force",
    is_flag=True,
    help="If --out holds a different sweep, move it to OUT.old-<hash> and start afresh.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar over cells (default: on a terminal, for sweeps over a second).",
)
@handles_config_errors
def sweep(sweep_file, out, executor, workers, scheduler, force, progress):
    """Run every cell of a sweep file; run it again to resume or retry failed cells.

    \b
    Example:
      modelcollapse sweep docs/configs/sweep-example.toml --out runs/sweep --workers 2
      modelcollapse sweep grid.toml --out runs/grid --executor dask --scheduler tcp://head:8786
    """
    from modelcollapse.sweep import load_sweep, run_sweep

    spec = load_sweep(sweep_file)
    try:
        report = run_sweep(
            spec,
            out,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            force=force,
            progress=progress,
        )
    except KeyboardInterrupt:
        # One line, no traceback: finished cells are on disk and the next run resumes.
        click.echo(
            f"\ninterrupted: finished cells are kept in {out}; run the same command to resume",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if report.moved_to is not None:
        click.echo(f"{out} held a different sweep: moved it to {report.moved_to}", err=True)
    where = f"{executor} executor"
    if scheduler:
        where += f", scheduler {scheduler}"
    else:
        count = report.workers or 1
        where += f", {count} worker" + ("s" if count != 1 else "")
    click.echo(
        f"sweep {out}: {report.total} cells: {report.skipped} already finished, "
        f"{report.ran} run, {len(report.failed)} failed [{report.elapsed_s:.1f} s, {where}]"
    )
    if report.note:
        click.echo(f"note: {report.note}", err=True)
    for path in report.broken:
        click.echo(f"a broken cell file was moved to {path} and its cell run again", err=True)
    for failure in report.failed:
        label = ", ".join(f"{k}={v}" for k, v in failure["values"].items())
        click.echo(
            f"cell {failure['cell']} ({label}) failed: {failure['error']} "
            f"(traceback in {failure['file']})",
            err=True,
        )
    if report.failed:
        click.echo(
            f"{len(report.failed)} cell(s) failed; run the same command again to retry them.",
            err=True,
        )
        sys.exit(EXIT_CELLS_FAILED)


@click.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@click.option(
    "--sql",
    default=None,
    metavar="QUERY",
    help="SQL over the view `cells` (default: every row). E.g. "
    "\"SELECT n, p, value FROM cells WHERE metric = 'survival' AND generation = 50\".",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--max-rows",
    type=int,
    default=None,
    help="Rows printed (default: 60 with --format table, all with csv and json). Rows are "
    "streamed from DuckDB: those not printed are counted, never held in memory.",
)
@handles_config_errors
def results(sweep_dir, sql, fmt, max_rows):
    """Query the finished cells of a sweep with DuckDB (a view `cells` over the Parquet files).

    Columns: cell, one per swept field, generation, metric, value, stderr. The SQL runs with
    your own rights (DuckDB can read and write files): only query directories you trust.
    """
    from modelcollapse.sweep import stream_query

    if max_rows is not None and max_rows < 0:
        raise ConfigError("--max-rows", max_rows, "an integer >= 0")
    limit = max_rows if max_rows is not None else (TABLE_ROWS if fmt == "table" else None)
    with stream_query(sweep_dir, sql) as stream:
        if fmt == "json":
            _print_json(stream, limit)
        elif fmt == "csv":
            _print_csv(stream, limit)
        else:
            _print_table(stream, limit)


#: Rows ``results --format table`` prints by default.
TABLE_ROWS = 60


def _rows(stream: Any, limit: int | None) -> Any:
    """Yield at most ``limit`` rows, then count the rest (the generator's return value)."""
    shown = 0
    for batch in stream.batches:
        if limit is not None and shown + batch.num_rows > limit:
            yield from stream.rows(batch.slice(0, limit - shown))
            rest = batch.num_rows - (limit - shown)
            for more in stream.batches:  # counted in Arrow, never converted
                rest += more.num_rows
            return rest
        shown += batch.num_rows
        yield from stream.rows(batch)
    return 0


def _hidden_note(hidden: int) -> None:
    if hidden:
        click.echo(
            f"... {hidden} more rows not shown (--max-rows N, or --format csv for all)", err=True
        )


def _print_json(stream: Any, limit: int | None) -> None:
    gen = _rows(stream, limit)
    click.echo("[", nl=False)
    first = True
    hidden = 0
    while True:
        try:
            row = next(gen)
        except StopIteration as stop:
            hidden = stop.value or 0
            break
        record = {name: jsonable(v) for name, v in zip(stream.columns, row, strict=True)}
        click.echo(("" if first else ",\n") + json_dumps(record), nl=False)
        first = False
    click.echo("]")
    _hidden_note(hidden)


def _print_csv(stream: Any, limit: int | None) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(stream.columns)
    gen = _rows(stream, limit)
    hidden = 0
    while True:
        try:
            row = next(gen)
        except StopIteration as stop:
            hidden = stop.value or 0
            break
        writer.writerow(["" if v is None else _csv_value(v) for v in row])
        if buf.tell() > 1 << 16:
            click.echo(buf.getvalue(), nl=False)
            buf.seek(0)
            buf.truncate()
    click.echo(buf.getvalue(), nl=False)
    _hidden_note(hidden)


def _print_table(stream: Any, limit: int | None) -> None:
    gen = _rows(stream, limit)
    shown = []
    hidden = 0
    while True:
        try:
            shown.append(next(gen))
        except StopIteration as stop:
            hidden = stop.value or 0
            break

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.6g}"
        v = jsonable(v)
        return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict)) else str(v)

    cells = [[fmt(v) for v in row] for row in shown]
    widths = [max([len(k)] + [len(c[i]) for c in cells]) for i, k in enumerate(stream.columns)]
    click.echo("  ".join(k.rjust(w) for k, w in zip(stream.columns, widths, strict=True)))
    for c in cells:
        click.echo("  ".join(x.rjust(w) for x, w in zip(c, widths, strict=True)))
    if hidden:
        click.echo(f"... ({hidden} more rows; --max-rows N to show more)")


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return v
    v = jsonable(v)
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def jsonable(v: Any) -> Any:
    """A DuckDB value as JSON can hold it.

    BLOB -> base64 text; DATE, TIME, TIMESTAMP -> ISO 8601 text; INTERVAL -> an ISO 8601
    duration (``P1M2DT3.5S``); DECIMAL/HUGEINT -> an integer when whole, else a float; UUID ->
    text; NaN and infinities -> null (JSON has no such numbers); lists and structs recursively.
    """
    import base64
    import datetime as dt
    import decimal
    import math
    import uuid

    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return _iso_duration(0, v.days, v.seconds * 10**9 + v.microseconds * 1000)
    if hasattr(v, "months") and hasattr(v, "days") and hasattr(v, "nanoseconds"):
        return _iso_duration(v.months, v.days, v.nanoseconds)
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            return None
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "item"):  # numpy scalars
        return jsonable(v.item())
    return str(v)


def _iso_duration(months: int, days: int, nanoseconds: int) -> str:
    """ISO 8601 duration; a negative part keeps its sign (``P-1D``), as DuckDB intervals may mix
    signs between months, days and time."""
    seconds = nanoseconds / 1e9
    out = "P" + (f"{months}M" if months else "") + (f"{days}D" if days else "")
    if seconds or out == "P":
        out += f"T{seconds:g}S"
    return out


@click.command()
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--x", "x", default=None, help="Sweeps: the swept field on the x axis (n, p, estimator, ...)."
)
@click.option(
    "--y",
    "y",
    required=True,
    multiple=True,
    help="Metric on the y axis (survival, sigma2_mean, ...); for a run directory repeatable, "
    "and sigma_above alone draws every eps.",
)
@click.option("--hue", default=None, help="Sweeps: the swept field that separates the lines.")
@click.option(
    "--at-generation",
    type=int,
    default=None,
    help="Sweeps: the generation to plot (default: the last).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Figure file (.png, .svg, .pdf); default DIR/plots/Y-vs-X.png (sweeps) or "
    "DIR/plots/Y.png (runs).",
)
@click.option("--logx/--linx", default=None, help="Log x axis (default: when x spans 2 decades).")
@click.option("--logy", is_flag=True, help="Log y axis.")
@handles_config_errors
def plot(directory, x, y, hue, at_generation, out, logx, logy):
    """Draw a sweep or a single run.

    \b
    A sweep directory: one metric at one generation against a swept field (--x), with Monte
    Carlo error bars. A run directory (summary.parquet and run.json, from simulate --out):
    metrics over the generations, with bands of ±2 standard errors.
    """
    from modelcollapse.errors import ConfigError
    from modelcollapse.report.run_plot import is_run_dir, plot_run

    if is_run_dir(directory):
        for name, value in (("--x", x), ("--hue", hue), ("--at-generation", at_generation)):
            if value is not None:
                raise ConfigError(name, value, "nothing: a run directory is drawn over generations")
        fig = plot_run(directory, y=list(y), out=out, logy=logy)
        click.echo(
            f"wrote {fig.path}: {', '.join(fig.metrics)} over generations "
            f"{fig.generations[0]}..{fig.generations[1]} (bands: ±2 s.e.)"
        )
        return
    from modelcollapse.sweep.plot import plot_sweep

    if x is None:
        raise ConfigError("--x", "", "a swept field (required for a sweep directory)")
    if len(y) != 1:
        raise ConfigError("--y", ",".join(y), "one metric for a sweep directory")
    fig = plot_sweep(
        directory, x=x, y=y[0], hue=hue, at_generation=at_generation, out=out, logx=logx,
        logy=logy,
    )
    note = f" (mean over {', '.join(fig.averaged_over)})" if fig.averaged_over else ""
    click.echo(f"wrote {fig.path}: {fig.y} at generation {fig.generation} vs {fig.x}{note}")
