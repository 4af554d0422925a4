"""Trials of per-trial models (plug-ins) spread over local processes or a Dask cluster.

Every executor runs the same unit of work, :func:`run_trial_batch`, which starts and advances a
few trials with ``loop.run_blocks`` (each trial on its own stream, keyed by (seed, cell, trial))
and returns their observer accumulators. The calling process alone folds them, in trial order,
and alone writes files, so a result is identical for every executor and any number of workers,
and a worker that dies never leaves a partial file.

``processes`` uses joblib's loky backend (cloudpickle, so plug-ins and metrics may be lambdas or
classes defined in ``__main__``); ``dask`` submits batches to a ``distributed`` scheduler (an
address, or a local cluster of ``workers`` processes). With one worker, ``processes`` runs the
trials in this process.

Resumption (``checkpoint``): each finished batch of trials is written to
``trials-FIRST-LAST.parquet`` in the checkpoint directory: per trial, its recorded generations,
the real-data share and every metric value, with the run's fingerprint (a hash of everything
that determines the trials' numbers) and the list of trials in the file's metadata. When a trial
fails, the trials of its batch that finished before it are written too. A rerun reads the files,
keeps the trials whose fingerprint, metric names and generations match, rebuilds their
accumulators from the values, and runs only the other trials.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelcollapse.engine.loop import RunPlan, run_blocks
from modelcollapse.engine.observers import SummaryMoments, Trajectories
from modelcollapse.errors import ConfigError
from modelcollapse.workers import dask_client, loky_parallel, sigint_ignored

EXECUTORS = ("threads", "processes", "dask")
#: Batches per worker: small enough to balance load and show progress, large enough to
#: amortise dispatch and the checkpoint file written per batch.
BATCHES_PER_WORKER = 16
#: Version of the trial-file layout (part of the fingerprint).
TRIAL_FORMAT = 1


def check_executor(
    family: Any, executor: str, scheduler: str | None, checkpoint: Any, until: Any
) -> None:
    """Refuse executor settings that cannot work, before any work."""
    if executor not in EXECUTORS:
        raise ConfigError("executor", executor, f"one of: {', '.join(EXECUTORS)}")
    if until is not None and executor != "threads":
        raise ConfigError("until", until, f"not available with executor={executor!r}")
    if scheduler is not None and executor != "dask":
        raise ConfigError("scheduler", scheduler, "only with executor='dask'")
    if checkpoint is not None and not _resumable(family):
        raise ConfigError("checkpoint", str(checkpoint), "checkpoints apply to plug-in models")
    if executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError(
                "executor",
                executor,
                "dask.distributed is not installed: pip install 'modelcollapse[dask]'",
            ) from None


def _resumable(family: Any) -> bool:
    return hasattr(family, "run_observers") and hasattr(family, "plugin")


# ---- the unit of work -----------------------------------------------------------------


def run_trial_batch(
    plan: RunPlan, trials: Sequence[int]
) -> tuple[list[tuple[int, list[Any]]], Any]:
    """Run blocks ``trials`` (a per-trial model's blocks are its trials); return
    ([(block, accumulators)], error or None).

    A failing plug-in trial ends the batch: the trials finished before it are returned with the
    error (named by its trial), so the caller keeps them. A vectorised family's error is raised.
    """
    from modelcollapse.models.plugin import PluginError

    done: list[tuple[int, list[Any]]] = []
    if not plan.per_trial:
        return [(b, run_blocks(plan, [b], stop_early=False)[0].accs) for b in trials], None
    for t in trials:
        try:
            run = run_blocks(plan, [t], stop_early=False)[0]
        except PluginError as exc:
            return done, exc.at_trial(t)
        except Exception as exc:  # raised by the loop around the plug-in, e.g. the source
            return done, PluginError(f"{type(exc).__name__}: {exc}", trial=t)
        done.append((t, run.accs))
    return done, None


def _batches(todo: Sequence[int], workers: int) -> list[list[int]]:
    size = max(1, math.ceil(len(todo) / (max(1, workers) * BATCHES_PER_WORKER)))
    return [list(todo[i : i + size]) for i in range(0, len(todo), size)]


def execute_trials(
    plan: RunPlan,
    *,
    executor: str = "processes",
    workers: int = 1,
    scheduler: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    tick: Callable[[int], None] | None = None,
) -> int:
    """Run every trial (every block, for a vectorised family) of ``plan`` on ``executor`` and
    fold the observers in block order, so the result is the same for any executor.

    Returns the number of trials reused from ``checkpoint``. A plug-in failure is raised as a
    ``PluginError`` after every trial that finished has been stored.
    """
    for obs in plan.observers:
        obs.setup(plan)
    store = TrialStore(checkpoint, plan) if checkpoint is not None else None
    ready: dict[int, list[Any]] = store.load() if store is not None else {}
    reused = len(ready)
    def work(blocks: Any) -> int:  # trial-generations in these blocks
        return sum(plan.block(b).size for b in blocks) * plan.generations

    if tick is not None and reused:
        tick(work(ready))
    todo = [t for t in range(plan.n_blocks) if t not in ready]
    nxt = 0
    error = None

    def fold_ready() -> None:
        nonlocal nxt
        while nxt in ready:
            for obs, acc in zip(plan.observers, ready.pop(nxt), strict=True):
                obs.fold(plan, acc)
            nxt += 1

    fold_ready()
    with _mapper(executor, workers, scheduler, plan) as run_map:
        for done, err in run_map(_batches(todo, workers)):
            if store is not None and done:
                store.save(done)
            for t, accs in done:
                ready[t] = accs
            if tick is not None and done:
                tick(work([t for t, _ in done]))
            fold_ready()
            if err is not None:
                error = err
                break
    if error is not None:
        raise error
    if ready or nxt != plan.n_blocks:  # pragma: no cover - every block is folded exactly once
        raise RuntimeError(f"folded {nxt} of {plan.n_blocks} blocks")
    plan.last = plan.generations
    for obs in plan.observers:
        obs.finish(plan)
    return reused


# ---- executors -----------------------------------------------------------------------


@contextmanager
def _mapper(executor: str, workers: int, scheduler: str | None, plan: RunPlan) -> Iterator[Any]:
    """Yield ``batches -> iterator of run_trial_batch results`` (in any order)."""
    if executor == "dask":
        with dask_client(workers, scheduler, field="scheduler") as client:
            yield lambda batches: _map_dask(client, plan, batches)
        return
    if workers <= 1:
        yield lambda batches: (run_trial_batch(plan, b) for b in batches)
        return
    if executor == "threads":
        yield lambda batches: _map_threads(plan, batches, workers)
        return
    yield lambda batches: _map_loky(plan, batches, workers)


def _map_threads(plan: RunPlan, batches: list[list[int]], workers: int) -> Iterator[Any]:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_trial_batch, plan, b) for b in batches]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


#: The plan a worker process last loaded, by digest (workers are reused across tasks).
_PLANS: dict[str, RunPlan] = {}


def _run_from_file(path: str, digest: str, trials: list[int]) -> Any:
    plan = _PLANS.get(digest)
    if plan is None:
        import pickle

        with open(path, "rb") as fh:
            plan = pickle.load(fh)  # cloudpickle's output loads with pickle
        _PLANS.clear()
        _PLANS[digest] = plan
    return run_trial_batch(plan, trials)


def _map_loky(plan: RunPlan, batches: list[list[int]], workers: int) -> Iterator[Any]:
    import tempfile

    from joblib import delayed

    try:  # by value: lambdas and classes defined in __main__ (what loky itself would use)
        from cloudpickle import dumps
    except ImportError:  # pragma: no cover - loky falls back to pickle as well
        from pickle import dumps

    if not batches:
        return
    # The plan (the model, and a data set that may be large) is pickled once to a file that
    # each worker reads once, rather than once per task.
    blob = dumps(plan)
    digest = hashlib.sha256(blob).hexdigest()
    with tempfile.TemporaryDirectory(prefix="modelcollapse-plan-") as tmp:
        path = os.path.join(tmp, "plan.pkl")
        with open(path, "wb") as fh:
            fh.write(blob)
        del blob
        # Workers watch this process from their start and ignore SIGINT (modelcollapse.workers).
        parallel = loky_parallel(min(workers, len(batches)))
        with sigint_ignored():
            gen = parallel(delayed(_run_from_file)(path, digest, b) for b in batches)
        try:
            yield from gen
        finally:
            gen.close()  # abandons the batches not yet run when the caller stops early


def _map_dask(client: Any, plan: RunPlan, batches: list[list[int]]) -> Iterator[Any]:
    from distributed import as_completed

    if not batches:
        return
    tag = uuid.uuid4().hex[:8]  # a shared scheduler may hold another run's tasks
    [plan_f] = client.scatter([plan], broadcast=True, hash=False)
    futures = [
        client.submit(
            run_trial_batch, plan_f, b, key=f"modelcollapse-trials-{b[0]}-{tag}", pure=False
        )
        for b in batches
    ]
    try:
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result
    finally:
        for future in futures:
            future.cancel()


# ---- resumption: one Parquet file per finished trial ------------------------------------


def fingerprint(plan: RunPlan) -> str:
    """A hash of everything that fixes a trial's numbers (not the trial count or executor)."""
    from modelcollapse.seeding import describe_seed

    try:
        from importlib.metadata import version

        pkg = version("modelcollapse")
    except Exception:  # pragma: no cover - running from a source tree
        pkg = "source"
    payload = {
        "format": TRIAL_FORMAT,
        "package": pkg,
        "family": plan.family.describe(),
        "method": plan.method,
        "sizes": np.asarray(plan.sizes).tolist(),
        "workflow": plan.workflow,
        "lam": plan.lam,
        "generations": plan.generations,
        "every": plan.every,
        "seed": describe_seed(plan.seed),
        "cell": plan.cell,
        "observers": [type(o).__name__ for o in plan.observers],
    }
    blob = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


class TrialStore:
    """The checkpoint directory of a plug-in run."""

    def __init__(self, directory: str | os.PathLike, plan: RunPlan):
        from modelcollapse.models.metrics import PluginMetrics

        self.dir = Path(directory)
        self.plan = plan
        self.fp = fingerprint(plan)
        self.metrics_at = next(
            i for i, o in enumerate(plan.observers) if isinstance(o, PluginMetrics)
        )
        # Accumulators are rebuilt from the stored values: only observers that see nothing but
        # the real-data share (or nothing) can be replayed; with others, nothing is reused.
        self.replayable = all(
            i == self.metrics_at or type(o) in (SummaryMoments, Trajectories)
            for i, o in enumerate(plan.observers)
        )

    def save(self, done: list[tuple[int, list[Any]]]) -> None:
        """Write one batch of finished trials (one file)."""
        from modelcollapse.store import write_parquet

        obs = self.plan.observers[self.metrics_at]
        tables = [accs[self.metrics_at].table(obs.names) for _, accs in done]
        cols = {
            "trial": np.concatenate(
                [
                    np.full(len(tb["generation"]), t, dtype=np.int64)
                    for (t, _), tb in zip(done, tables, strict=True)
                ]
            ),
            **{k: np.concatenate([tb[k] for tb in tables]) for k in tables[0]},
        }
        trials = [t for t, _ in done]
        self.dir.mkdir(parents=True, exist_ok=True)
        write_parquet(
            cols,
            self.dir / f"trials-{trials[0]:06d}-{trials[-1]:06d}.parquet",
            {"fingerprint": self.fp, "trials": trials, "metrics": list(obs.names)},
        )

    def load(self) -> dict[int, list[Any]]:
        """Accumulators of the stored trials that match this run (others are ignored)."""
        if not self.replayable or not self.dir.is_dir():
            return {}
        out: dict[int, list[Any]] = {}
        for path in sorted(self.dir.glob("trials-*.parquet")):
            for t, accs in self._read(path).items():
                out.setdefault(t, accs)
        return out

    def _read(self, path: Path) -> dict[int, list[Any]]:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {}).get(b"modelcollapse", b"{}"))
            cols = {name: table.column(name).to_numpy() for name in table.column_names}
        except (OSError, ValueError, KeyError):  # unreadable: its trials run again
            return {}
        names = list(self.plan.observers[self.metrics_at].names)
        if (
            meta.get("fingerprint") != self.fp
            or meta.get("metrics") != names
            or not {"trial", "generation", "share", *names} <= set(cols)
        ):
            return {}
        recorded = self.plan.recorded()
        out = {}
        for t in meta.get("trials", []):
            rows = cols["trial"] == t
            if not isinstance(t, int) or not 0 <= t < self.plan.trials:
                continue
            if not np.array_equal(cols["generation"][rows], recorded):
                continue
            out[t] = self._replay(
                t,
                cols["generation"][rows],
                cols["share"][rows].astype(float),
                np.stack([cols[n][rows].astype(float) for n in names], axis=1) if names else None,
            )
        return out

    def _replay(
        self, trial: int, gens: np.ndarray, shares: np.ndarray, values: np.ndarray | None
    ) -> list[Any]:
        from modelcollapse.models.metrics import TrialValues

        block = self.plan.block(trial)
        accs: list[Any] = []
        for i, obs in enumerate(self.plan.observers):
            if i == self.metrics_at:
                accs.append(
                    TrialValues(
                        trial,
                        None,
                        None,
                        [int(g) for g in gens],
                        [] if values is None else list(values),
                        [float(s) for s in shares],
                    )
                )
                continue
            acc = obs.start(self.plan, block)
            for g, share in zip(gens, shares, strict=True):
                obs.observe(acc, int(g), None, None if g == 0 else np.array([share]))
            accs.append(acc)
        return accs


def stored_trials(directory: str | os.PathLike) -> list[int]:
    """The trials stored in a checkpoint directory (read from the files' metadata, unverified)."""
    import pyarrow.parquet as pq

    out: set[int] = set()
    for path in Path(directory).glob("trials-*.parquet"):
        try:
            meta = json.loads((pq.read_schema(path).metadata or {}).get(b"modelcollapse", b"{}"))
        except (OSError, ValueError):
            continue
        out.update(int(t) for t in meta.get("trials", []))
    return sorted(out)
