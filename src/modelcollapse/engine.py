"""The generation loop: every trial of a block advances together, one refit per generation.

``simulate`` is the single public entry point (DESIGN.md). Trials are split into fixed-size
blocks; each block has its own random stream (``modelcollapse.seeding``) and is reduced to
per-generation moments, which are merged in block order. The summary is therefore identical
for any number of worker threads, and memory is bounded by the block size, whatever ``trials``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families import Family, make_family
from modelcollapse.families.base import BLOCK_ELEMENTS, Observable
from modelcollapse.moments import Moments
from modelcollapse.progress import progress_bar
from modelcollapse.seeding import block_generator
from modelcollapse.table import Table
from modelcollapse.workflows import Schedule, WorkflowRun, check_workflow, needs_sample_path

METHODS = ("exact", "naive")
#: Recorded generations buffered per block before they are reduced to moments.
_WINDOW = 64
#: Largest trajectory array (numbers) that ``simulate`` keeps in memory.
MAX_TRAJECTORY_VALUES = 50_000_000


@dataclass
class SimulationResult:
    """What ``simulate`` returns.

    ``summary`` is long: columns ``generation``, ``metric``, ``value``, ``stderr`` (the Monte
    Carlo standard error of ``value``). ``trajectories`` (when requested) has columns
    ``generation``, ``trial`` and one per parameter of the family.
    """

    config: dict[str, Any]
    summary: Table
    trajectories: Table | None = None
    elapsed_s: float = 0.0
    family: Family | None = field(default=None, repr=False)

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(generations, values, standard errors) of one metric."""
        rows = self.summary.where(metric=name)
        if len(rows) == 0:
            known = sorted(set(self.summary["metric"].tolist()))
            raise KeyError(f"no metric {name!r}; this run has: {', '.join(known)}")
        return rows["generation"], rows["value"], rows["stderr"]

    def save(self, out: str, *, overwrite: bool = False) -> str:
        """Write the run directory (summary.parquet, run.json, trajectories.parquet)."""
        from modelcollapse.store import write_run  # store sits below; imported lazily for speed

        return str(write_run(out, self, overwrite=overwrite))


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(name, value, f"an integer >= {low}")
    if value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


def simulate(
    family: str | Family,
    *,
    n: int,
    generations: int,
    trials: int,
    seed: int,
    params: dict[str, Any] | None = None,
    estimator: str | None = None,
    method: str | None = None,
    eps: Sequence[float] = (),
    metrics: Sequence[str] | None = None,
    trajectories: bool | int = False,
    record_every: int = 1,
    workflow: str = "replace",
    real_fraction: float | None = None,
    schedule: Any = None,
    workers: int = 1,
    cell: int = 0,
    progress: bool | None = None,
) -> SimulationResult:
    """Recursively train ``family`` for ``generations`` refits in ``trials`` independent trials.

    Generation 0 is the starting model theta_0; generation k is the k-th model, fitted to ``n``
    samples drawn from model k-1 (SPEC.md section 1; Suresh et al. 2025, section 2).

    Parameters
    ----------
    family : a family name (``"bernoulli"``, ``"poisson"``, ``"categorical"``, ``"gaussian"``,
        ...) with ``params``, or a family object (``modelcollapse.families.Gaussian(sigma=1)``).
    n : samples drawn per generation.
    generations, trials, seed : horizon, number of independent trials, and the seed of every
        random stream (see ``modelcollapse.seeding``).
    estimator : the family's estimator (Gaussian: ``"unbiased"`` divisor n-1, the paper's choice,
        or ``"ml"`` divisor n); default: the family's first.
    method : ``"exact"`` draws the sufficient statistic; ``"naive"`` draws all n samples.
        Default: ``"exact"`` where the family has it, else ``"naive"`` (mixtures).
    eps : thresholds for ``collapse_prob[eps=...]`` = Pr(Sigma_k > eps) (families with a scale).
    metrics : keep only these metrics in the summary (default: all the family reports).
    trajectories : ``True`` records every trial's parameters at every recorded generation; an
        integer records only that many (the first) trials.
    record_every : summarise every r-th generation (and the last) only; for very long runs.
    workflow : what each generation trains on: ``"replace"`` (the paper), ``"accumulate"``,
        ``"accumulate-subsample"``, ``"mix"`` or ``"mix-fixed"`` (see ``modelcollapse.workflows``).
    real_fraction : lambda, the share of real data per generation for the mix workflows.
    schedule : sample sizes n_k per generation: ``"linear:a=10"``, ``"geometric:r=1.1"``,
        ``"power:a=1.5"``, ``"list:10,20,..."`` or a list (default: constant n).
    workers : threads that advance blocks concurrently; results do not depend on it.
    cell : the cell index of a sweep (part of the random streams' keys).
    progress : show a progress bar (default: only on a terminal, after one second).

    Returns
    -------
    SimulationResult with the tidy ``summary`` (columns generation, metric, value, stderr).
    """
    started = time.perf_counter()
    # ---- validate everything before any work ---------------------------------------------
    n = _check_int("n", n, 1)
    generations = _check_int("generations", generations, 0)
    trials = _check_int("trials", trials, 1)
    seed = _check_int("seed", seed, 0)
    record_every = _check_int("record_every", record_every, 1)
    workers = _check_int("workers", workers, 1)
    cell = _check_int("cell", cell, 0)
    # robust16 (issue 16/12): sizes numpy cannot hold, memory and work, before any allocation.
    # The one call into modelcollapse.limits from the engine: keep it after the integer checks.
    from modelcollapse.limits import check_run_size

    check_run_size(n=n, generations=generations, trials=trials, record_every=record_every)
    if method is not None and method not in METHODS:
        raise ConfigError("method", method, f"one of: {', '.join(METHODS)}")
    if isinstance(family, str):
        fam = make_family(family, params, estimator=estimator, eps=eps)
    elif isinstance(family, Family):
        if params:
            raise ConfigError(
                "params",
                params,
                "give parameters either in the family object or with a family name, not both",
            )
        fam = family
        if estimator is not None or eps:
            from dataclasses import replace

            changes: dict[str, Any] = {}
            if estimator is not None:
                changes["estimator"] = estimator
            if eps:
                if not hasattr(fam, "eps"):
                    raise ConfigError("eps", list(eps), f"thresholds do not apply to {fam.name}")
                changes["eps"] = tuple(eps)
            fam = replace(fam, **changes)
    else:
        raise ConfigError("family", family, "a family name or a modelcollapse Family object")
    if method is None:
        method = "exact" if fam.has_exact else "naive"
    if method == "exact" and not fam.has_exact:
        raise ConfigError(
            "method", method, f"{fam.name} has no finite sufficient statistic: use method='naive'"
        )
    sizes = Schedule.parse(schedule, n).sizes(generations)
    check_n = getattr(fam, "check_n", None)
    if check_n is not None:
        check_n(int(sizes.min()))
    elif sizes.min() < 1:
        raise ConfigError("schedule", int(sizes.min()), "sample sizes >= 1")
    lam = check_workflow(workflow, real_fraction, fam, method, sizes)
    observables = fam.observables()
    if workflow != "replace":
        observables += (Observable("real_fraction", doc="share of real data in the training set"),)
    all_metrics = tuple(m for obs in observables for m in obs.metric_names())
    if metrics is not None:
        metrics = list(metrics)
        for m in metrics:
            if m not in all_metrics:
                raise ConfigError("metric", m, f"{fam.name} reports: {', '.join(all_metrics)}")
    n_traj = (
        0
        if trajectories is False
        else (trials if trajectories is True else _check_int("trajectories", trajectories, 1))
    )
    n_traj = min(n_traj, trials)
    recorded = np.unique(np.r_[np.arange(0, generations + 1, record_every), generations])
    n_fields = len(fam.trajectory_fields())
    if n_traj * len(recorded) * n_fields > MAX_TRAJECTORY_VALUES:
        raise ConfigError(
            "trajectories",
            trajectories,
            f"at most {MAX_TRAJECTORY_VALUES:,} recorded values: record fewer "
            "trials (trajectories=K) or set record_every",
        )

    block = fam.block_trials(method, int(sizes.max()))
    if workflow != "replace" and needs_sample_path(fam, workflow):
        # The sample path keeps every point of every generation.
        block = max(1, min(block, BLOCK_ELEMENTS // (fam.state_elements() + int(sizes[1:].sum()))))
    n_blocks = math.ceil(trials / block)
    # Only the observables behind the requested metrics are reduced to moments.
    keep = [
        i
        for i, obs in enumerate(observables)
        if metrics is None or any(m in metrics for m in obs.metric_names())
    ]
    observables = tuple(observables[i] for i in keep)
    n_obs = len(observables)
    n_fam = len(fam.observables())
    keep_fam = [i for i in keep if i < n_fam]
    want_share = n_fam in keep
    simple = workflow == "replace" and bool(np.all(sizes == n))
    row_of = np.full(generations + 1, -1)
    row_of[recorded] = np.arange(len(recorded))
    traj = np.full((len(recorded), n_fields, n_traj), np.nan) if n_traj else None

    bar = progress_bar(
        total=trials * generations,
        unit="trial-gen",
        unit_scale=True,
        desc=f"{fam.name} n={n}" + ("" if workflow == "replace" else f" {workflow}"),
        progress=progress,
    )

    def run_block(b: int) -> Moments:
        size = min(block, trials - b * block)
        rng = block_generator(seed, b, cell)
        state = fam.initial_state(size)
        flow = None if simple else WorkflowRun(fam, workflow, lam, sizes, method, size)
        share = np.ones(size)
        stats = Moments.zeros((len(recorded), n_obs))
        t_lo, t_hi = b * block, min(b * block + size, n_traj)
        buf = np.empty((_WINDOW, n_obs, size))
        rows: list[int] = []

        def record(g: int) -> None:
            values = fam.observe(state, keep_fam) if keep_fam else np.empty((0, size))
            if len(values) != len(keep_fam):  # a family that ignores ``rows`` returns them all
                values = values[keep_fam]
            if want_share:
                buf[len(rows), :-1] = values
                buf[len(rows), -1] = share
            else:
                buf[len(rows)] = values
            rows.append(row_of[g])
            if traj is not None and t_hi > t_lo:
                traj[row_of[g], :, t_lo:t_hi] = fam.trajectory(state)[:, : t_hi - t_lo]
            if len(rows) == _WINDOW:
                flush()

        def flush() -> None:
            part = Moments.of(buf[: len(rows)])
            idx = np.asarray(rows)
            stats.n[idx], stats.mean[idx] = part.n, part.mean
            stats.m2[idx], stats.m3[idx], stats.m4[idx] = part.m2, part.m3, part.m4
            rows.clear()

        record(0)
        pending = 0
        for g in range(1, generations + 1):
            if flow is None:
                state = fam.step(state, n, rng, method)
            else:
                state, share = flow.step(state, g, rng)
            if row_of[g] >= 0:
                record(g)
            pending += 1
            if pending == 256:
                bar.update(pending * size)
                pending = 0
        if rows:
            flush()
        bar.update(pending * size)
        return stats

    total = Moments.zeros((len(recorded), n_obs))
    try:
        if workers == 1:
            for b in range(n_blocks):
                total.merge(run_block(b))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                # Waves of `workers` blocks keep memory bounded; merging in block order keeps the
                # floating-point sums identical to a one-worker run.
                for start in range(0, n_blocks, workers):
                    wave = range(start, min(start + workers, n_blocks))
                    for stats in pool.map(run_block, wave):
                        total.merge(stats)
    finally:
        bar.close()

    summary = _summary(observables, recorded, total, metrics)
    traj_table = None
    if traj is not None:
        gen_col = np.repeat(recorded, n_traj)
        trial_col = np.tile(np.arange(n_traj), len(recorded))
        cols = {"generation": gen_col, "trial": trial_col}
        for i, name in enumerate(fam.trajectory_fields()):
            cols[name] = traj[:, i, :].ravel()
        traj_table = Table(cols)

    config = {
        **fam.describe(),
        "n": n,
        "generations": generations,
        "trials": trials,
        "seed": seed,
        "method": method,
        "estimator": fam.estimator,
        "record_every": record_every,
        "workflow": workflow,
        "real_fraction": real_fraction,
        "schedule": Schedule.parse(schedule, n).describe(),
        "trajectories": n_traj,
        "metrics": metrics if metrics is not None else list(all_metrics),
        "block_trials": block,
        "cell": cell,
    }
    return SimulationResult(config, summary, traj_table, time.perf_counter() - started, fam)


def _summary(
    observables: Sequence[Observable],
    recorded: np.ndarray,
    total: Moments,
    keep: Sequence[str] | None,
) -> Table:
    """Long table: for each observable, its mean (or mean and variance) with standard errors."""
    values, errors, names = [], [], []
    se_mean = total.stderr_of_mean()
    var = total.variance()
    se_var = total.stderr_of_variance()
    for i, obs in enumerate(observables):
        if obs.moments:
            pairs = [
                (f"{obs.name}_mean", total.mean[:, i], se_mean[:, i]),
                (f"{obs.name}_var", var[:, i], se_var[:, i]),
            ]
        else:
            pairs = [(obs.name, total.mean[:, i], se_mean[:, i])]
        for name, v, e in pairs:
            if keep is None or name in keep:
                names.append(name)
                values.append(v)
                errors.append(e)
    k = len(names)
    return Table(
        {
            "generation": np.repeat(recorded, k).astype(np.int64),
            "metric": np.tile(np.asarray(names, dtype=object), len(recorded)),
            "value": np.stack(values, axis=1).ravel() if k else np.empty(0),
            "stderr": np.stack(errors, axis=1).ravel() if k else np.empty(0),
        }
    )
