"""``modelcollapse simulate`` and ``modelcollapse run``: one recursive-training run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
import numpy as np

from modelcollapse.commands._common import (
    JSON_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
    check_out,
    handles_config_errors,
    json_dumps,
    out_option,
    parse_params,
    stack_options,
)
from modelcollapse.commands._frames import format_frame, records
from modelcollapse.config import RunConfig, load_toml, make_config
from modelcollapse.engine import SimulationResult
from modelcollapse.engine import simulate as run_simulation
from modelcollapse.errors import ConfigError
from modelcollapse.store import write_run

#: Exit status when a plug-in fails during a run (bad input, found before any work, is 2).
EXIT_PLUGIN_FAILED = 1


def shown_generations(recorded: np.ndarray, max_rows: int = 12) -> np.ndarray:
    """Evenly spaced recorded generations for the printed table: 0, s, 2s, ... and the last.

    The step s is the recording interval times the smallest 1, 2 or 5 times a power of ten that
    keeps the table within ``max_rows`` rows (plus the last generation)."""
    recorded = np.unique(np.asarray(recorded))
    if len(recorded) <= max_rows:
        return recorded
    # Steps are multiples of the recording interval (the last generation is always recorded,
    # so it may break the pattern and is left out of the interval).
    every = int(np.gcd.reduce(np.diff(recorded[:-1]).astype(np.int64))) if len(recorded) > 2 else 1
    span = int(recorded[-1] - recorded[0])
    step = every * next(
        m * 10**e
        for e in range(20)
        for m in (1, 2, 5)
        if span / (every * m * 10**e) <= max_rows - 1
    )
    targets = np.arange(recorded[0], recorded[-1] + 1, step)
    idx = np.abs(recorded[None, :] - targets[:, None]).argmin(axis=1)
    return np.unique(np.r_[recorded[idx], recorded[-1]])


def _wide(result: SimulationResult, max_rows: int = 12) -> str:
    """Generation by metric, "value ± standard error", at evenly spaced generations; then the
    hitting-time statistics (reported once, at the last generation)."""
    summary = result.summary
    is_time = summary["metric"].str.startswith("time_to[")
    per_gen, times = summary[~is_time], summary[is_time]
    gens = shown_generations(per_gen["generation"].to_numpy(), max_rows)
    names = list(dict.fromkeys(per_gen["metric"].tolist()))
    columns = [["generation", *(str(int(g)) for g in gens)]]
    for name in names:
        rows = per_gen[per_gen["metric"] == name]
        values = dict(zip(rows["generation"].tolist(), rows["value"].tolist(), strict=True))
        errors = dict(zip(rows["generation"].tolist(), rows["stderr"].tolist(), strict=True))
        cells = [name]
        for g in gens.tolist():
            v, e = values[g], errors[g]
            cells.append(f"{v:.6g}" if not e or not np.isfinite(e) else f"{v:.6g} ± {e:.2g}")
        columns.append(cells)
    widths = [max(len(c) for c in col) for col in columns]
    lines = [
        "  ".join(col[i].rjust(w) for col, w in zip(columns, widths, strict=True))
        for i in range(len(gens) + 1)
    ]
    text = "\n".join(lines) + (
        "\n(value ± Monte Carlo standard error; --json or --out for every generation)"
    )
    if len(times):
        text += "\n\ntime to collapse (generations; - : not every trial got there)\n"
        text += format_frame(times[["metric", "value", "stderr"]], max_rows=len(times) + 2)
    return text


def _header(result: SimulationResult) -> str:
    c = result.config
    skip = {
        "family",
        "n",
        "generations",
        "trials",
        "seed",
        "method",
        "estimator",
        "metrics",
        "record_every",
        "trajectories",
        "block_trials",
        "cell",
        "eps",
    }
    params = ", ".join(
        f"{k}={v}" for k, v in c.items() if k not in skip and not isinstance(v, list)
    )
    if c.get("sampler"):
        stages = ", ".join(f"{k}={v}" for stage in c["sampler"] for k, v in stage.items())
        params += f"; sampler: {stages}"
    return (
        f"{c['family']} ({params}); n={c['n']}, estimator={c['estimator']}, "
        f"method={c['method']}, {c['trials']} trials, {c['generations']} generations, "
        f"seed={c['seed']} [{result.elapsed_s:.2f} s]"
    )


#: Where a plug-in run keeps its finished trials, inside its run directory.
TRIALS_DIR = "trials"


def _importable_cwd() -> None:
    """Let ``--model mymodule:Name`` (and ``--curate mymodule:score``) find ``mymodule.py`` in
    the working directory, as ``python -m`` would (the console script's own directory is what
    Python puts first)."""
    import os

    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _execute(
    cfg: RunConfig, out: str | None, as_json: bool, overwrite: bool, progress: bool | None
) -> None:
    from modelcollapse.errors import ConfigError
    from modelcollapse.models.plugin import PluginError

    plugin = cfg.model is not None
    checkpoint = None
    if out is not None:
        target = Path(out)
        # An unfinished plug-in run (only its finished trials are there) is resumed.
        resuming = (
            plugin
            and target.is_dir()
            and {p.name for p in target.iterdir()} <= {TRIALS_DIR}
        )
        busy = target.exists() and (not target.is_dir() or any(target.iterdir()))
        if busy and not overwrite and not resuming:
            raise ConfigError("--out", out, "a new or empty directory (or pass --overwrite)")
        if not resuming:
            check_out(out, overwrite)
        if plugin:
            checkpoint = target / TRIALS_DIR
    family = cfg.build_family()
    if checkpoint is not None and overwrite and not resuming and checkpoint.is_dir():
        shutil.rmtree(checkpoint)  # --overwrite starts afresh
    kwargs = cfg.simulate_kwargs()
    if checkpoint is not None:
        kwargs["checkpoint"] = str(checkpoint)
    try:
        result = run_simulation(family, progress=progress, **kwargs)
    except PluginError as exc:
        from modelcollapse.engine.executors import stored_trials

        kept = len(stored_trials(checkpoint)) if checkpoint is not None else 0
        hint = (
            f"; {kept} finished trials are kept in {checkpoint}: run the same command again "
            "to resume from them"
            if checkpoint is not None
            else ""
        )
        click.echo(f"Error: {exc}{hint}", err=True)
        sys.exit(EXIT_PLUGIN_FAILED)
    if out is not None:
        write_run(out, result, overwrite=overwrite or plugin, keep=(TRIALS_DIR,) if plugin else ())
    if as_json:
        click.echo(json_dumps(records(result.summary)))
    else:
        click.echo(_header(result))
        click.echo(_wide(result))
        if out is not None:
            click.echo(f"wrote {out}/summary.parquet and {out}/run.json")


_with_common = stack_options(
    out_option("Run directory to write (summary.parquet, run.json)."),
    JSON_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
)


@click.command()
@click.option(
    "--family",
    default=None,
    help="bernoulli | poisson | categorical | gaussian | mixture2 | gmm | mvgaussian | regression (or --model for a plug-in).",
)
@click.option(
    "--model",
    default=None,
    metavar="PACKAGE.MODULE:NAME",
    help="A plug-in model (docs/plugins.md), e.g. modelcollapse.models.sklearn:kernel_density.",
)
@click.option(
    "--model-param",
    "model_params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Keyword argument of the plug-in, e.g. bandwidth=0.3 (repeatable).",
)
@click.option(
    "--source",
    default=None,
    help="Real data of a plug-in: a family name (default gaussian), a .npy/.csv/.parquet/.txt "
    "file, or package.module:sampler.",
)
@click.option(
    "--source-param",
    "source_params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Parameter of a family source, e.g. sigma=2 (repeatable).",
)
@click.option(
    "--reference-size",
    type=int,
    default=None,
    help="Plug-ins: points of real data (and of model samples) the metrics use per trial.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Starting parameter, e.g. p=0.2, lambda=10, sigma=1, p=0.5,0.3,0.2.",
)
@click.option("--n", "n", type=int, required=True, help="Samples per generation.")
@click.option("--generations", type=int, required=True, help="Number of refits.")
@click.option("--trials", type=int, required=True, help="Independent trials.")
@click.option("--seed", type=int, required=True, help="Seed of all random streams.")
@click.option("--estimator", default=None, help="Estimator (gaussian: unbiased | ml).")
@click.option(
    "--method",
    type=click.Choice(["exact", "naive"]),
    default=None,
    help="exact: draw the sufficient statistic; naive: draw all n samples "
    "(default: exact where the family has it, else naive).",
)
@click.option("--eps", type=float, multiple=True, help="Thresholds E of sigma_above[eps=E] = Pr(Sigma_k > E) (repeatable).")
@click.option(
    "--counts",
    "counts_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Categorical start from a symbol<TAB>count file.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Keep only these metrics (repeatable); sigma_above alone keeps every --eps.",
)
@click.option(
    "--trajectories",
    type=int,
    default=0,
    help="Record per-trial parameters of this many trials (trajectories.parquet).",
)
@click.option("--record-every", type=int, default=1, help="Summarise every r-th generation.")
@click.option(
    "--workflow",
    default="replace",
    show_default=True,
    help="replace | accumulate | accumulate-subsample | mix | mix-fixed.",
)
@click.option(
    "--real-fraction",
    type=float,
    default=None,
    help="Share of real data per generation (mix, mix-fixed).",
)
@click.option(
    "--schedule",
    default=None,
    help="Sample sizes n_k: linear:a=A | geometric:r=R | power:a=A | list:N1,N2,...",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    help="Threads, or local processes for plug-ins (results do not depend on it).",
)
@click.option(
    "--executor",
    type=click.Choice(["threads", "processes", "dask"]),
    default=None,
    help="Where blocks of trials run: threads (default for built-in families), processes "
    "(default for plug-ins) or dask (with --scheduler, or a local cluster); results do not "
    "depend on it.",
)
@click.option("--scheduler", default=None, help="Address of a Dask scheduler (--executor dask).")
@click.option(
    "--until",
    default=None,
    metavar="EVENT",
    help="Stop when every trial has entered EVENT: 'collapse' (the family's total collapse: "
    "fixation, extinction, one symbol left, sigma below the smallest --eps) or an event name "
    "(loss, fixation, extinction, first_loss, total_collapse, sigma<EPS); --generations caps it.",
)
@click.option(
    "--observer",
    "observers",
    multiple=True,
    metavar="NAME",
    help="Add a named observer (forgetting: per-symbol forgetting times, words.parquet).",
)
@click.option(
    "--temperature", type=float, default=None, help="Sample at temperature T (categorical)."
)
@click.option("--top-k", "top_k", type=int, default=None, help="Top-k sampling (categorical).")
@click.option("--top-p", "top_p", type=float, default=None, help="Nucleus sampling (categorical).")
@click.option(
    "--truncation",
    type=float,
    default=None,
    help="Scale sigma by psi when sampling (gaussian, mvgaussian).",
)
@click.option(
    "--verify-tol",
    "verifier_tol",
    type=float,
    default=None,
    help="Regression: keep generated labels within TOL of the truth.",
)
@click.option(
    "--curate",
    default=None,
    metavar="MODULE:FUNCTION",
    help="Curate generated data with a score function of the samples (higher is kept), "
    "e.g. myscores:near_mean for myscores.py in the working directory; needs --curate-fraction "
    "or --curate-threshold (docs/sampling.md, 'From the command line and configs').",
)
@click.option(
    "--curate-fraction",
    "curate_fraction",
    type=float,
    default=None,
    metavar="F",
    help="With --curate: keep the n best of ceil(n / F) candidates, F in (0, 1].",
)
@click.option(
    "--curate-threshold",
    "curate_threshold",
    type=float,
    default=None,
    metavar="S",
    help="With --curate: keep candidates scoring >= S, drawing more until n pass.",
)
@_with_common
@handles_config_errors
def simulate(
    family,
    model,
    model_params,
    source,
    source_params,
    reference_size,
    params,
    n,
    generations,
    trials,
    seed,
    estimator,
    method,
    eps,
    counts_file,
    metrics,
    trajectories,
    record_every,
    workflow,
    real_fraction,
    schedule,
    workers,
    until,
    observers,
    temperature,
    top_k,
    top_p,
    truncation,
    verifier_tol,
    curate,
    curate_fraction,
    curate_threshold,
    executor,
    scheduler,
    out,
    as_json,
    overwrite,
    progress,
):
    """Recursively train one model family and summarise every generation.

    \b
    Example:
      modelcollapse simulate --family bernoulli --param p=0.01 --n 100 \\
          --generations 50 --trials 5000 --seed 1 --out runs/bern
      modelcollapse simulate --model modelcollapse.models.sklearn:kernel_density \\
          --model-param bandwidth=0.3 --source gaussian --n 100 --generations 20 \\
          --trials 200 --seed 1 --workers 2 --out runs/kde
      modelcollapse simulate --family gaussian --n 100 --generations 50 \\
          --trials 500 --seed 1 --curate myscores:near_mean --curate-fraction 0.5
    """
    plugin_opts = {
        "--model-param": model_params,
        "--source": source,
        "--source-param": source_params,
        "--reference-size": reference_size,
    }
    model_cfg = None
    if model is not None:
        model_cfg = {
            "name": model,
            "params": parse_params(model_params, "--model-param"),
            "source_params": parse_params(source_params, "--source-param"),
            "reference_size": reference_size,
        }
        if source is not None:
            model_cfg["source"] = source
    else:
        for opt, value in plugin_opts.items():
            if value:
                raise ConfigError(opt, value, "only with --model (a plug-in)")
    if (family is None) == (model is None):
        raise ConfigError(
            "--family", family or "missing", "give exactly one of --family or --model"
        )
    _importable_cwd()
    cfg = make_config(
        family=family,
        model=model_cfg,
        params=parse_params(params),
        counts_file=counts_file,
        n=n,
        generations=generations,
        trials=trials,
        seed=seed,
        estimator=estimator,
        method=method,
        eps=list(eps),
        metrics=list(metrics) or None,
        trajectories=trajectories or False,
        record_every=record_every,
        workflow=workflow,
        real_fraction=real_fraction,
        schedule=schedule,
        workers=workers,
        until=until,
        observers=list(observers),
        sampler={
            k: v
            for k, v in {
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "truncation": truncation,
                "verifier_tol": verifier_tol,
                "curate": curate,
                "curate_fraction": curate_fraction,
                "curate_threshold": curate_threshold,
            }.items()
            if v is not None
        }
        or None,
        executor=executor,
        scheduler=scheduler,
    )
    _execute(cfg, out, as_json, overwrite, progress)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@_with_common
@handles_config_errors
def run(config, out, as_json, overwrite, progress):
    """Run the simulation described by a TOML file (see docs/configs/).

    A [sampler] table takes temperature, top_k, top_p, truncation, verifier_tol, and curate
    ("module:function") with curate_fraction or curate_threshold (docs/sampling.md)."""
    _importable_cwd()
    _execute(load_toml(config), out, as_json, overwrite, progress)
