"""``modelcollapse reproduce`` (the paper's experiments and report) and ``modelcollapse verify``."""

from __future__ import annotations

import sys

import click

from modelcollapse.commands._common import handles_config_errors


@click.command()
@click.option(
    "--only", multiple=True, metavar="ID", help="Run only these experiments (repeatable)."
)
@click.option(
    "--scale",
    default="paper",
    show_default=True,
    help="paper: the paper's trial counts; large: 100 times more where affordable.",
)
@click.option(
    "--corpus",
    type=click.Path(dir_okay=False),
    default=None,
    help="Text corpus for the text experiments (default: ../shared/data's WikiText "
    "sample, else a wordfreq vocabulary).",
)
@click.option(
    "--out",
    default="modelcollapse-report",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Report directory.",
)
@click.option("--seed", default=20250101, show_default=True, type=int, help="Seed of every run.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Threads per simulation (results do not depend on it).",
)
@click.option("--list", "list_only", is_flag=True, help="List the experiments and exit.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
)
@handles_config_errors
def reproduce(only, scale, corpus, out, seed, workers, list_only, progress):
    """Reproduce every experiment of the paper and write a report that compares our numbers
    with exact theory and with the published values.

    \b
    Writes OUT/index.html (self-contained), OUT/figures/ID.png|svg, OUT/results/ID.parquet,
    OUT/comparison.csv and OUT/report.json. Exit status 1 if any experiment disagrees.
    """
    from modelcollapse.experiments import REGISTRY
    from modelcollapse.report.reproduce import reproduce as run_reproduce

    if list_only:
        width = max(len(i) for i in REGISTRY)
        for exp in REGISTRY.values():
            click.echo(f"{exp.id.ljust(width)}  {exp.paper_ref:<30} {exp.title}")
        return
    summary = run_reproduce(
        out,
        only=only or None,
        scale=scale,
        corpus=corpus,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    width = max(len(r["id"]) for r in summary.results)
    for r in summary.results:
        mark = "ok " if r["ok"] else "!! "
        click.echo(f"{mark}{r['id'].ljust(width)}  {r['time']:6.2f} s  {r['verdict']}")
    click.echo(f"report: {summary.out}/index.html")
    if not summary.ok:
        sys.exit(1)
