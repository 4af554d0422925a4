"""The generation loop and its one public entry point, ``simulate``.

``simulate`` validates everything, builds a :class:`~modelcollapse.engine.loop.RunPlan` with its
observers, runs it (``modelcollapse.engine.loop``) and assembles the tidy summary. Trials are
split into fixed-size blocks (a block of one trial for per-trial models); each block has its own
random stream (``modelcollapse.seeding``) and observers fold blocks in block order, so a result
is identical for any number of workers, and memory is bounded by the block size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from modelcollapse.engine.loop import RunPlan, execute
from modelcollapse.engine.observers import (
    Block,
    HittingTimes,
    Observer,
    SummaryMoments,
    Trajectories,
    hit_metric_names,
    named_observer,
    tidy,
)
from modelcollapse.engine.result import SimulationResult
from modelcollapse.errors import ConfigError
from modelcollapse.families import Family, make_family
from modelcollapse.families.base import BLOCK_ELEMENTS, Observable, resolve_metrics
from modelcollapse.progress import progress_bar
from modelcollapse.seeding import check_seed, describe_seed
from modelcollapse.workflows import Schedule, check_workflow, needs_sample_path

METHODS = ("exact", "naive")
#: Largest trajectory array (numbers) that ``simulate`` keeps in memory.
MAX_TRAJECTORY_VALUES = 50_000_000
#: ``until`` value meaning "the family's total collapse" (its terminal event).
COLLAPSE = "collapse"
#: ``metrics`` value asking for every metric the family and the observers report.
ALL_METRICS = "all"

__all__ = [
    "Block",
    "HittingTimes",
    "METHODS",
    "Observer",
    "SimulationResult",
    "SummaryMoments",
    "Trajectories",
    "simulate",
    "tidy",
]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(name, value, f"an integer >= {low}")
    if value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


def _resolve_family(family: Any, params: Any, estimator: Any, eps: Sequence[float]) -> Family:
    if isinstance(family, str):
        return make_family(family, params, estimator=estimator, eps=eps)
    if not isinstance(family, Family):
        raise ConfigError("family", family, "a family name or a modelcollapse Family object")
    if params:
        raise ConfigError(
            "params", params, "give parameters either in the family object or with a family name"
        )
    changes: dict[str, Any] = {}
    if estimator is not None:
        changes["estimator"] = estimator
    if eps:
        if not hasattr(family, "eps"):
            raise ConfigError("eps", list(eps), f"thresholds do not apply to {family.name}")
        changes["eps"] = tuple(eps)
    return replace(family, **changes) if changes else family


def simulate(
    family: str | Family,
    *,
    n: int,
    generations: int,
    trials: int,
    seed: int | np.random.SeedSequence,
    params: dict[str, Any] | None = None,
    estimator: str | None = None,
    method: str | None = None,
    eps: Sequence[float] = (),
    metrics: Sequence[str] | str | None = None,
    trajectories: bool | int = False,
    record_every: int = 1,
    workflow: str = "replace",
    real_fraction: float | None = None,
    schedule: Any = None,
    workers: int = 1,
    cell: int = 0,
    observers: Sequence[Observer | str] = (),
    until: str | None = None,
    sampler: Any = None,
    progress: bool | None = None,
    executor: str = "threads",
    scheduler: str | None = None,
    checkpoint: str | None = None,
) -> SimulationResult:
    """Recursively train ``family`` for ``generations`` refits in ``trials`` independent trials.

    Generation 0 is the starting model theta_0; generation k is the k-th model, fitted to ``n``
    samples drawn from model k-1 (SPEC.md section 1; Suresh et al. 2025, section 2).

    Parameters
    ----------
    family : a family name (``"bernoulli"``, ``"poisson"``, ``"categorical"``, ``"gaussian"``,
        ...) with ``params``, a family object (``modelcollapse.families.Gaussian(sigma=1)``), or a
        per-trial model (``modelcollapse.models``: n-grams, plug-ins).
    n : samples drawn per generation.
    generations : the horizon; with ``until``, the most generations the run may take.
    trials : number of independent trials.
    seed : an integer >= 0 or a ``numpy.random.SeedSequence``: the root of every random stream
        (``modelcollapse.seeding``).
    estimator : the family's estimator (Gaussian: ``"unbiased"`` divisor n-1, the paper's choice,
        or ``"ml"`` divisor n); default: the family's first.
    method : ``"exact"`` draws the sufficient statistic; ``"naive"`` draws all n samples.
        Default: ``"exact"`` where the family has it, else ``"naive"`` (mixtures).
    eps : thresholds for ``sigma_above[eps=...]`` = Pr(Sigma_k > eps) and for the collapse
        events ``sigma<eps`` (families with a scale).
    metrics : keep only these metrics in the summary. Default: the family's default set
        (``Family.default_metric_names()``: everything but a few costly distances, e.g. the
        Gaussian's distances to the start) with the hitting times ``reached[E]`` and
        ``time_to[E]_*`` of its events and your observers' metrics; ``"all"`` (or ``["all"]``)
        reports every metric.
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
    observers : extra :class:`Observer` objects (your own), or names of registered ones
        (``"forgetting"``: per-symbol forgetting times); their rows join the summary and their
        ``files`` the run directory.
    until : stop when every trial has entered this event (``"collapse"``: the family's total
        collapse, e.g. fixation for Bernoulli, one symbol left for a categorical); the run then
        ends at the generation where the last trial got there (at most ``generations``).
    sampler : how each generation's data is drawn from the previous model
        (``modelcollapse.samplers``): a stage such as ``Temperature(0.7)``, ``TopP(0.95)``,
        ``Truncation(0.8)``, ``Curation(score, fraction=0.5)``, a list of them, or a mapping
        ``{"temperature": 0.7, "top_p": 0.95}``. Stages a family's law allows stay on its
        exact path; filters run on the sample path. Default: draw from the model as it is.
    progress : show a progress bar (default: only on a terminal, after one second).
    executor : where blocks run: ``"threads"`` (``workers`` threads), or, for per-trial models
        (plug-ins), ``"processes"`` (``workers`` local processes) or ``"dask"`` (a cluster at
        ``scheduler``, or a local one of ``workers`` processes); see
        ``modelcollapse.engine.executors``. Results do not depend on it.
    scheduler : the address of a running Dask scheduler (``executor="dask"``).
    checkpoint : a directory (plug-in models): each finished batch of trials is stored there
        as a Parquet file, and a rerun reuses the stored trials that match this run (resumption;
        ``result.config["trials_reused"]`` counts them).

    Returns
    -------
    SimulationResult with the tidy ``summary`` DataFrame (generation, metric, value, stderr).
    """
    started = time.perf_counter()
    # ---- validate everything before any work ---------------------------------------------
    n = _check_int("n", n, 1)
    generations = _check_int("generations", generations, 0)
    trials = _check_int("trials", trials, 1)
    seed = check_seed(seed)
    record_every = _check_int("record_every", record_every, 1)
    workers = _check_int("workers", workers, 1)
    cell = _check_int("cell", cell, 0)
    # Sizes numpy cannot hold, memory and work, refused before any allocation.
    from modelcollapse.limits import check_run_size

    check_run_size(n=n, generations=generations, trials=trials, record_every=record_every)
    if method is not None and method not in METHODS:
        raise ConfigError("method", method, f"one of: {', '.join(METHODS)}")
    fam = _resolve_family(family, params, estimator, eps).with_sampler(sampler)
    if method is None:
        method = "exact" if fam.has_exact else "naive"
    if method == "exact" and not fam.has_exact:
        raise ConfigError(
            "method", method, f"{fam.name} has no finite sufficient statistic: use method='naive'"
        )
    schedule_obj = Schedule.parse(schedule, n)
    sizes = schedule_obj.sizes(generations)
    check_n = getattr(fam, "check_n", None)
    if check_n is not None:
        check_n(int(sizes.min()))
    elif sizes.min() < 1:
        raise ConfigError("schedule", int(sizes.min()), "sample sizes >= 1")
    lam = check_workflow(workflow, real_fraction, fam, method, sizes)
    observers = [named_observer(o) if isinstance(o, str) else o for o in observers]
    for obs in observers:
        if not isinstance(obs, Observer):
            raise ConfigError(
                "observers", obs, "modelcollapse.engine.Observer instances or registered names"
            )
        obs.check(fam)
    # Per-trial models may bring observers of their own (the plug-in metrics).
    run_observers = getattr(fam, "run_observers", None)
    keep = None if metrics is None else list(metrics)
    fam_observers = list(run_observers(keep)) if run_observers is not None else []
    # Plug-ins always run trial by trial (so a failure names its trial); others as blocks.
    by_trial = executor != "threads" or checkpoint is not None or hasattr(fam, "plugin")
    if by_trial:
        from modelcollapse.engine.executors import check_executor

        check_executor(fam, executor, scheduler, checkpoint)
    elif scheduler is not None:
        raise ConfigError("scheduler", scheduler, "only with executor='dask'")

    observables = fam.observables()
    if workflow != "replace":
        observables += (Observable("real_fraction", doc="share of real data in the training set"),)
    moment_metrics = tuple(m for obs in observables for m in obs.metric_names())
    events = [e.name for e in fam.events()]
    hit_metrics = tuple(m for e in events for m in hit_metric_names(e))
    fam_metrics = tuple(m for obs in fam_observers for m in obs.metric_names(fam))
    user_metrics = fam_metrics + tuple(m for obs in observers for m in obs.metric_names(fam))
    all_metrics = moment_metrics + hit_metrics + user_metrics
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is not None and list(metrics) == [ALL_METRICS]:
        metrics = None  # every metric
    elif metrics is None:
        default = set(fam.default_metric_names())
        if workflow != "replace":
            default.add("real_fraction")
        metrics = [m for m in moment_metrics if m in default] + list(hit_metrics + user_metrics)
        if len(metrics) == len(all_metrics):
            metrics = None
    else:
        metrics = resolve_metrics(list(metrics), all_metrics)
        for m in metrics:
            if m not in all_metrics:
                raise ConfigError(
                    "metric", m, f"{fam.name} reports: {', '.join(all_metrics)} (or {ALL_METRICS})"
                )
    until_event = None
    if until is not None:
        if until == COLLAPSE:
            until_event = fam.terminal_event
            if until_event is None:
                raise ConfigError(
                    "until",
                    until,
                    f"{fam.name} has no total-collapse event"
                    + (" (give eps thresholds)" if hasattr(fam, "eps") else ""),
                )
        elif until in events:
            until_event = until
        else:
            allowed = ", ".join([COLLAPSE, *events]) if events else "none: it has no events"
            raise ConfigError("until", until, f"{fam.name} events are: {allowed}")

    n_traj = (
        0
        if trajectories is False
        else (trials if trajectories is True else _check_int("trajectories", trajectories, 1))
    )
    n_traj = min(n_traj, trials)
    n_recorded = generations // record_every + 2
    if n_traj * n_recorded * len(fam.trajectory_fields()) > MAX_TRAJECTORY_VALUES:
        raise ConfigError(
            "trajectories",
            trajectories,
            f"at most {MAX_TRAJECTORY_VALUES:,} recorded values: record fewer "
            "trials (trajectories=K) or set record_every",
        )

    block = fam.block_trials(method, int(sizes.max()))
    if workflow != "replace" and needs_sample_path(fam, workflow):
        # The sample path keeps every point of every generation.
        kept = fam.state_elements() + int(sizes[1:].sum()) * fam.point_elements()
        block = max(1, min(block, BLOCK_ELEMENTS // kept))

    # ---- observers -------------------------------------------------------------------------
    keep_obs = [
        i
        for i, obs in enumerate(observables)
        if metrics is None or any(m in metrics for m in obs.metric_names())
    ]
    n_fam = len(fam.observables())
    plan_observers: list[Observer] = []
    summary_obs = None
    if keep_obs:
        summary_obs = SummaryMoments(
            [observables[i] for i in keep_obs],
            [i for i in keep_obs if i < n_fam],
            share=n_fam in keep_obs,
            keep=metrics,
        )
        plan_observers.append(summary_obs)
    timed = [
        e
        for e in events
        if metrics is None or e == until_event or any(m in metrics for m in hit_metric_names(e))
    ]
    hit_obs = None
    if timed:
        hit_obs = HittingTimes(
            timed,
            until=until_event,
            keep=None if metrics is None else [m for m in metrics if m in hit_metrics],
        )
        plan_observers.append(hit_obs)
    traj_obs = Trajectories(n_traj) if n_traj else None
    if traj_obs is not None:
        plan_observers.append(traj_obs)
    plan_observers.extend(fam_observers)
    plan_observers.extend(observers)
    if workflow == "replace" and method == "exact" and traj_obs is None and not (
        fam_observers or observers
    ):
        # Only these observables (and the events' hits) are read: the family may skip the rest
        # of its exact step (the Gaussian's mean when only Sigma_k is read).
        fam = fam.observing([observables[i].name for i in keep_obs])

    plan = RunPlan(
        family=fam,
        method=method,
        sizes=sizes,
        workflow=workflow,
        lam=lam,
        generations=generations,
        every=record_every,
        trials=trials,
        block_trials=block,
        seed=seed,
        cell=cell,
        observers=tuple(plan_observers),
        until=hit_obs if until_event is not None else None,
    )

    bar = progress_bar(
        total=trials * generations,
        unit="trial-gen",
        unit_scale=True,
        desc=f"{fam.name} n={n}" + ("" if workflow == "replace" else f" {workflow}"),
        progress=progress,
    )
    reused = None
    try:
        if by_trial:
            from modelcollapse.engine.executors import execute_trials

            reused = execute_trials(
                plan,
                executor=executor,
                workers=workers,
                scheduler=scheduler,
                checkpoint=checkpoint,
                tick=bar.update,
            )
        else:
            execute(plan, workers=workers, tick=bar.update)
    finally:
        bar.close()

    summary = _assemble(plan)
    config = {
        **fam.describe(),
        "n": n,
        "generations": generations,
        "trials": trials,
        "seed": describe_seed(seed),
        "method": method,
        "estimator": fam.estimator,
        "record_every": record_every,
        "workflow": workflow,
        "real_fraction": real_fraction,
        "schedule": schedule_obj.describe(),
        "trajectories": n_traj,
        "metrics": metrics
        if metrics is not None
        else list(moment_metrics + hit_metrics + fam_metrics),
        "block_trials": block,
        "cell": cell,
    }
    if reused is not None:
        config["trials_reused"] = reused
    if until is not None:
        config["until"] = until_event
        config["generations_run"] = plan.last
    return SimulationResult(
        config,
        summary,
        traj_obs.frame(plan) if traj_obs is not None else None,
        time.perf_counter() - started,
        fam,
        list(plan.observers),
        plan,
    )


def _assemble(plan: RunPlan) -> Any:
    """Concatenate the observers' rows, ordered by generation (stable within a generation)."""
    import pandas as pd

    frames = [f for obs in plan.observers if (f := obs.rows(plan)) is not None and len(f)]
    if not frames:
        return tidy(np.empty(0, dtype=np.int64), np.empty(0, dtype=object), [], [])
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values("generation", kind="stable", ignore_index=True)
    return out
