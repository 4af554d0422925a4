"""``modelcollapse reproduce`` (the paper's experiments and report) and ``modelcollapse verify``."""

from __future__ import annotations

import sys

import click
import numpy as np

from modelcollapse.commands._common import check_out, handles_config_errors
from modelcollapse.commands._frames import records
from modelcollapse.errors import ConfigError


def _check_seed(seed: int) -> None:
    from modelcollapse.limits import check_int64

    check_int64("--seed", seed, low=0)


def _check_corpus(corpus: str | None) -> None:
    """Read the whole corpus once now: a binary, empty or blank file is bad input (exit 2),
    found before any experiment runs rather than as a failed experiment in a written report."""
    if corpus is None:
        return
    from pathlib import Path

    from modelcollapse.data.corpus import iter_text

    if not Path(corpus).is_file():
        raise ConfigError("--corpus", corpus, "an existing UTF-8 text file")
    try:
        for piece in iter_text(corpus):
            if piece.strip():
                break
        else:
            raise ConfigError("--corpus", corpus, "a UTF-8 text file with at least one token")
        # iter_text checks each piece as it reads; finish reading to check the rest of the file.
        for _ in iter_text(corpus):
            pass
    except ConfigError as exc:
        if exc.field == "--corpus":
            raise
        raise ConfigError("--corpus", corpus, f"{exc.allowed}; found {exc.value}") from None


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
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUT whatever it holds, starting a new report (without it, OUT must be new, "
    "empty or an earlier report; --only then updates that report in place).",
)
@handles_config_errors
def reproduce(only, scale, corpus, out, seed, workers, list_only, progress, overwrite):
    """Reproduce every experiment of the paper and write a report that compares our numbers
    with exact theory and with the published values.

    \b
    Writes OUT/index.html (self-contained), OUT/figures/ID.png|svg, OUT/results/ID.parquet,
    OUT/comparison.csv and OUT/report.json. Exit status 1 if any experiment disagrees.
    With --only over an earlier report in OUT, only those experiments are run again and the
    report keeps the others.
    """
    from modelcollapse.experiments import REGISTRY
    from modelcollapse.report.reproduce import reproduce as run_reproduce

    if list_only:
        width = max(len(i) for i in REGISTRY)
        for exp in REGISTRY.values():
            click.echo(f"{exp.id.ljust(width)}  {exp.paper_ref:<30} {exp.title}")
        return
    # Validate everything before the report directory is created.
    from modelcollapse.report.reproduce import SCALES, check_ids

    check_ids(only or None)
    if scale not in SCALES:
        raise ConfigError("--scale", scale, f"one of: {', '.join(SCALES)}")
    _check_seed(seed)
    if workers < 1:
        raise ConfigError("--workers", workers, "an integer >= 1")
    _check_corpus(corpus)
    # Whether an existing directory may be replaced is the report's rule (its marker file);
    # here only that the location can be written at all.
    check_out(out, None)
    summary = run_reproduce(
        out,
        only=only or None,
        scale=scale,
        corpus=corpus,
        seed=seed,
        workers=workers,
        progress=progress,
        overwrite=overwrite,
    )
    width = max(len(r["id"]) for r in summary.results)
    for r in summary.results:
        if r.get("skipped"):
            mark = "-- "
        elif not r["ok"]:
            mark = "!! "
        else:
            mark = "?? " if r.get("status") == "unchecked" else "ok "
        click.echo(f"{mark}{r['id'].ljust(width)}  {r['time']:6.2f} s  {r['verdict']}")
    click.echo(f"report: {summary.out}/index.html")
    if not summary.ok:
        sys.exit(1)


@click.command()
@click.option("--quick", is_flag=True, help="A smaller grid and fewer trials (what CI runs).")
@click.option(
    "--out",
    default="modelcollapse-verify",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output directory.",
)
@click.option(
    "--alpha",
    default=1e-4,
    show_default=True,
    type=float,
    help="Family-wise false-failure rate (Bonferroni over all checks).",
)
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@handles_config_errors
def verify(quick, out, alpha, seed, overwrite):
    """Verify every family and estimator against the theory module's exact answers.

    Writes OUT/verify.parquet and OUT/verify.csv (z-scores and goodness-of-fit p-values) and
    overlay plots OUT/figures/verify-FAMILY.png; exits with status 1 if any check fails after a
    Bonferroni correction.
    """
    import csv

    from modelcollapse.experiments.verification import run_checks, write_verification
    from modelcollapse.store import atomic_directory, write_parquet

    if not 0 < alpha < 1:
        raise ConfigError("--alpha", alpha, "a probability strictly between 0 and 1")
    # The checks use seeds seed + 1, seed + 2, ...: the seed given must itself be valid, and be
    # named as given (not as the first derived seed).
    _check_seed(seed)
    check_out(out, overwrite)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        checks, curves = run_checks(quick, seed)
        failures, table = write_verification(tmp, checks, curves, alpha)
        write_parquet(table, tmp / "verify.parquet")
        with (tmp / "verify.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            for row in records(table):
                writer.writerow(["" if row[c] is None else row[c] for c in table.columns])
    z = table["z"].to_numpy()
    z = z[~np.isnan(z)]
    click.echo(
        f"{len(checks)} checks ({int(np.sum(table['quantity'] == 'law of Sigma_k (KS)'))} "
        f"goodness-of-fit), max |z| = {np.abs(z).max():.2f}, smallest p-value = "
        f"{table['p_value'].min():.2e}; Bonferroni threshold {alpha / len(checks):.2e}"
    )
    for row in records(table):
        if not row["passed"]:
            click.echo(
                f"FAILED {row['family']} {row['setting']} {row['quantity']} k={row['k']}: "
                f"ours {row['ours']:.6g}, exact {row['exact']:.6g}, p = {row['p_value']:.2e}"
            )
    click.echo(f"{len(checks) - failures} passed, {failures} failed; wrote {out}")
    if failures:
        sys.exit(1)
