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
from tqdm.auto import tqdm

from modelcollapse.errors import ConfigError
from modelcollapse.families import Family, make_family
from modelcollapse.moments import Moments
from modelcollapse.seeding import block_generator
from modelcollapse.table import Table

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
    method: str = "exact",
    eps: Sequence[float] = (),
    metrics: Sequence[str] | None = None,
    trajectories: bool | int = False,
    record_every: int = 1,
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
    eps : thresholds for ``collapse_prob[eps=...]`` = Pr(Sigma_k > eps) (families with a scale).
    metrics : keep only these metrics in the summary (default: all the family reports).
    trajectories : ``True`` records every trial's parameters at every recorded generation; an
        integer records only that many (the first) trials.
    record_every : summarise every r-th generation (and the last) only; for very long runs.
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
    if method not in METHODS:
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
    if method == "exact" and not fam.has_exact:
        raise ConfigError(
            "method", method, f"{fam.name} has no finite sufficient statistic: use method='naive'"
        )
    check_n = getattr(fam, "check_n", None)
    if check_n is not None:
        check_n(n)
    all_metrics = fam.metric_names()
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

    block = fam.block_trials(method, n)
    n_blocks = math.ceil(trials / block)
    n_obs = len(fam.observables())
    row_of = np.full(generations + 1, -1)
    row_of[recorded] = np.arange(len(recorded))
    traj = np.full((len(recorded), n_fields, n_traj), np.nan) if n_traj else None

    bar = tqdm(
        total=trials * generations,
        unit="trial-gen",
        unit_scale=True,
        delay=1.0,
        disable=(None if progress is None else not progress),
        leave=False,
        desc=f"{fam.name} n={n}",
    )

    def run_block(b: int) -> Moments:
        size = min(block, trials - b * block)
        rng = block_generator(seed, b, cell)
        state = fam.initial_state(size)
        stats = Moments.zeros((len(recorded), n_obs))
        t_lo, t_hi = b * block, min(b * block + size, n_traj)
        buf = np.empty((_WINDOW, n_obs, size))
        rows: list[int] = []

        def record(g: int) -> None:
            buf[len(rows)] = fam.observe(state)
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
            state = fam.step(state, n, rng, method)
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

    summary = _summary(fam, recorded, total, metrics)
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
        "trajectories": n_traj,
        "metrics": metrics if metrics is not None else list(all_metrics),
        "block_trials": block,
        "cell": cell,
    }
    return SimulationResult(config, summary, traj_table, time.perf_counter() - started, fam)


def _summary(
    fam: Family, recorded: np.ndarray, total: Moments, keep: Sequence[str] | None
) -> Table:
    """Long table: for each observable, its mean (or mean and variance) with standard errors."""
    values, errors, names = [], [], []
    se_mean = total.stderr_of_mean()
    var = total.variance()
    se_var = total.stderr_of_variance()
    for i, obs in enumerate(fam.observables()):
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
