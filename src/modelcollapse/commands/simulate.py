"""``modelcollapse simulate`` and ``modelcollapse run``: one recursive-training run."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from modelcollapse.commands._common import (
    JSON_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
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
from modelcollapse.store import write_run


def _wide(result: SimulationResult, max_rows: int = 12) -> str:
    """Generation by metric values (the final-generation statistics of hitting times apart),
    a few generations spread evenly over the run, the last included."""
    summary = result.summary
    per_gen = summary[~summary["metric"].str.startswith("time_to[")]
    wide = per_gen.pivot(index="generation", columns="metric", values="value")
    wide = wide[list(dict.fromkeys(per_gen["metric"]))].reset_index()
    if len(wide) > max_rows:
        wide = wide.iloc[np.unique(np.linspace(0, len(wide) - 1, max_rows).round().astype(int))]
    text = format_frame(wide, max_rows=max_rows + 2)
    times = summary[summary["metric"].str.startswith("time_to[")]
    if len(times):
        text += "\n\ntime to collapse (generations; NaN: not every trial got there)\n"
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


def _execute(
    cfg: RunConfig, out: str | None, as_json: bool, overwrite: bool, progress: bool | None
) -> None:
    if out is not None:
        target = Path(out)
        if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
            from modelcollapse.errors import ConfigError

            raise ConfigError("--out", out, "a new or empty directory (or pass --overwrite)")
    result = run_simulation(cfg.build_family(), progress=progress, **cfg.simulate_kwargs())
    if out is not None:
        write_run(out, result, overwrite=overwrite)
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
@click.option("--family", required=True, help="bernoulli | poisson | categorical | gaussian | ...")
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
@click.option("--eps", type=float, multiple=True, help="Thresholds for collapse_prob (repeatable).")
@click.option(
    "--counts",
    "counts_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Categorical start from a symbol<TAB>count file.",
)
@click.option("--metric", "metrics", multiple=True, help="Keep only these metrics (repeatable).")
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
@click.option("--workers", type=int, default=1, help="Threads (results do not depend on it).")
@click.option(
    "--temperature", type=float, default=None, help="Sample at temperature T (categorical)."
)
@click.option("--top-k", "top_k", type=int, default=None, help="Top-k sampling (categorical).")
@click.option("--top-p", "top_p", type=float, default=None, help="Nucleus sampling (categorical).")
@click.option(
    "--truncation", type=float, default=None, help="Scale sigma by psi when sampling (gaussian)."
)
@click.option(
    "--verify-tol",
    "verifier_tol",
    type=float,
    default=None,
    help="Regression: keep generated labels within TOL of the truth.",
)
@_with_common
@handles_config_errors
def simulate(
    family,
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
    temperature,
    top_k,
    top_p,
    truncation,
    verifier_tol,
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
    """
    cfg = make_config(
        family=family,
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
        sampler={
            k: v
            for k, v in {
                "temperature": temperature,
                "top_k": top_k,
                "top_p": top_p,
                "truncation": truncation,
                "verifier_tol": verifier_tol,
            }.items()
            if v is not None
        }
        or None,
    )
    _execute(cfg, out, as_json, overwrite, progress)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@_with_common
@handles_config_errors
def run(config, out, as_json, overwrite, progress):
    """Run the simulation described by a TOML file (see docs/configs/)."""
    _execute(load_toml(config), out, as_json, overwrite, progress)
