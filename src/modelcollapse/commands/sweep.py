"""``modelcollapse sweep``, ``results`` and ``plot``: grids of runs, resumable, local or Dask."""

from __future__ import annotations

import csv
import io
import sys

import click

from modelcollapse.commands._common import handles_config_errors, json_dumps
from modelcollapse.commands._frames import format_frame, records

#: Exit status when some cells failed (they are retried by the next run).
EXIT_CELLS_FAILED = 1


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
    report = run_sweep(
        spec,
        out,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        force=force,
        progress=progress,
    )
    if report.moved_to is not None:
        click.echo(f"{out} held a different sweep: moved it to {report.moved_to}", err=True)
    where = f"{executor} executor"
    where += f", scheduler {scheduler}" if scheduler else f", {report.workers} workers"
    click.echo(
        f"sweep {out}: {report.total} cells: {report.skipped} already finished, "
        f"{report.ran} run, {len(report.failed)} failed [{report.elapsed_s:.1f} s, {where}]"
    )
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
    "--max-rows", type=int, default=60, show_default=True, help="Rows shown by --format table."
)
@handles_config_errors
def results(sweep_dir, sql, fmt, max_rows):
    """Query the finished cells of a sweep with DuckDB (a view `cells` over the Parquet files).

    Columns: cell, one per swept field, generation, metric, value, stderr.
    """
    from modelcollapse.sweep import query

    table = query(sweep_dir, sql)
    if fmt == "json":
        click.echo(json_dumps(records(table)))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.columns)
        for row in records(table):
            writer.writerow(["" if v is None else v for v in row.values()])
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(format_frame(table, max_rows=max_rows))


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
