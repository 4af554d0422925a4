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

``until=EVENT`` runs in two phases, as ``loop.execute`` does on threads: each task advances its
blocks until their own trials have all entered the event and returns their
:class:`~modelcollapse.engine.loop.BlockRun` (state, stream, workflow pools and accumulators:
picklable); once every block has stopped, the blocks that stopped before the last one are sent
out again to be carried on to its generation, from where they stopped, and only then are all
blocks folded, in order. Every step is the computation the threads executor makes, so the
results are bit-identical to it. The calling process holds one BlockRun per block between the
phases, as ``loop.execute`` does (a block's state and accumulators, not its data).

Resumption (``checkpoint``): each finished batch of trials is written to
``trials-FIRST-LAST.parquet`` in the checkpoint directory: per trial, its recorded generations,
the real-data share and every plug-in metric value (for people and other tools to read), and
the trial's observer accumulators pickled in a binary column (``state``, on the trial's first
row), with the run's fingerprint (a hash of everything that determines the trials' numbers,
observers included) and the list of trials in the file's metadata. Under ``until`` what is
stored is a trial's BlockRun where it stopped, and a rerun carries the stored trials on with the
others. When a trial fails, the trials of its batch that finished before it are written too. A
rerun reads the files, keeps the trials whose fingerprint, metric names and generations match
and whose accumulators unpickle, folds those exactly as they were, and runs only the other
trials. Any observer, a user's own included, is resumed this way: its accumulators are stored
as the run computed them (they already cross process boundaries by pickle with the processes
and Dask executors), so a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import pickle
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelcollapse.engine.loop import BlockRun, RunPlan, advance, record_final, run_blocks
from modelcollapse.errors import ConfigError
from modelcollapse.workers import dask_client, loky_parallel, sigint_ignored

EXECUTORS = ("threads", "processes", "dask")
#: Batches per worker: small enough to balance load and show progress, large enough to
#: amortise dispatch and the checkpoint file written per batch.
BATCHES_PER_WORKER = 16
#: Version of the trial-file layout (part of the fingerprint).
TRIAL_FORMAT = 2


def check_executor(family: Any, executor: str, scheduler: str | None, checkpoint: Any) -> None:
    """Refuse executor settings that cannot work, before any work."""
    if executor not in EXECUTORS:
        raise ConfigError("executor", executor, f"one of: {', '.join(EXECUTORS)}")
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



# ---- the units of work -----------------------------------------------------------------


def _each(
    plan: RunPlan, items: Sequence[tuple[int, Any]], one: Callable[[Any], Any]
) -> tuple[list[tuple[int, Any]], Any]:
    """``[(block, one(item))]`` for ``items`` = [(block, item)], and an error or None.

    A failing plug-in trial ends the batch: the trials finished before it are returned with the
    error (named by its trial), so the caller keeps them. A vectorised family's error is raised.
    """
    from modelcollapse.models.plugin import PluginError

    done: list[tuple[int, Any]] = []
    for b, item in items:
        if not plan.per_trial:
            done.append((b, one(item)))
            continue
        try:
            out = one(item)
        except PluginError as exc:
            return done, exc.at_trial(b)
        except Exception as exc:  # raised by the loop around the plug-in, e.g. the source
            return done, PluginError(f"{type(exc).__name__}: {exc}", trial=b)
        done.append((b, out))
    return done, None


def run_trial_batch(
    plan: RunPlan, trials: Sequence[int]
) -> tuple[list[tuple[int, list[Any]]], Any]:
    """Run blocks ``trials`` (a per-trial model's blocks are its trials) to the horizon; return
    ([(block, accumulators)], error or None)."""
    return _each(
        plan, [(t, t) for t in trials], lambda t: run_blocks(plan, [t], stop_early=False)[0].accs
    )


def run_stopped_batch(
    plan: RunPlan, blocks: Sequence[int]
) -> tuple[list[tuple[int, BlockRun]], Any]:
    """Phase 1 of ``until``: run each block until its trials have all entered the event (or the
    horizon); return ([(block, its BlockRun, where it stopped)], error or None)."""
    return _each(
        plan,
        [(b, b) for b in blocks],
        lambda b: _detached(run_blocks(plan, [b], stop_early=True)[0]),
    )


def carry_batch(
    plan: RunPlan, task: tuple[int, Sequence[BlockRun]]
) -> tuple[list[tuple[int, BlockRun]], Any]:
    """Phase 2 of ``until``: carry the BlockRuns of ``task`` = (last, runs) on to generation
    ``last`` from where they stopped (the same streams), recording as they go."""
    last, runs = task

    def one(run: BlockRun) -> BlockRun:
        return _detached(advance(plan, _attached(plan, run), last, stop_early=False))

    return _each(plan, [(r.block.index, r) for r in runs], one)


def _detached(run: BlockRun) -> BlockRun:
    """``run`` without the family its workflow holds (the plan has it; for a plug-in it may
    hold a whole data set), to be pickled to another process or a file."""
    if run.flow is None or run.flow.fam is None:
        return run
    flow = copy.copy(run.flow)
    flow.fam = flow.real_fam = None
    return dataclasses.replace(run, flow=flow)


def _attached(plan: RunPlan, run: BlockRun) -> BlockRun:
    if run.flow is not None and run.flow.fam is None:
        flow = copy.copy(run.flow)
        flow.fam, flow.real_fam = plan.family, plan.family.real_data_family()
        run = dataclasses.replace(run, flow=flow)
    return run


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
    # The fingerprint is taken before ``setup``: it describes the observers' settings, never
    # what a previous run left in them.
    store = TrialStore(checkpoint, plan) if checkpoint is not None else None
    for obs in plan.observers:
        obs.setup(plan)
    ready: dict[int, Any] = store.load() if store is not None else {}
    reused = len(ready)
    with _mapper(executor, workers, scheduler, plan) as run_map:
        if plan.until is None:
            _run_fixed(plan, ready, store, run_map, workers, tick)
        else:
            _run_until(plan, ready, store, run_map, workers, tick)
    for obs in plan.observers:
        obs.finish(plan)
    return reused


def _run_fixed(
    plan: RunPlan,
    ready: dict[int, list[Any]],
    store: TrialStore | None,
    run_map: Any,
    workers: int,
    tick: Callable[[int], None] | None,
) -> None:
    def work(blocks: Any) -> int:  # trial-generations in these blocks
        return sum(plan.block(b).size for b in blocks) * plan.generations

    if tick is not None and ready:
        tick(work(ready))
    todo = [t for t in range(plan.n_blocks) if t not in ready]
    nxt = 0
    error = None

    def fold_ready() -> None:
        nonlocal nxt
        while nxt in ready:
            _fold(plan, ready.pop(nxt))
            nxt += 1

    fold_ready()
    for done, err in run_map(run_trial_batch, _batches(todo, workers)):
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


def _run_until(
    plan: RunPlan,
    runs: dict[int, BlockRun],
    store: TrialStore | None,
    run_map: Any,
    workers: int,
    tick: Callable[[int], None] | None,
) -> None:
    def ticked(pairs: Any) -> None:  # [(block, generations advanced)]
        if tick is not None:
            total = sum(plan.block(b).size * g for b, g in pairs)
            if total:
                tick(total)

    ticked((b, run.generation) for b, run in runs.items())
    todo = [b for b in range(plan.n_blocks) if b not in runs]
    error = None
    for done, err in run_map(run_stopped_batch, _batches(todo, workers)):
        if store is not None and done:
            store.save(done)
        for b, run in done:
            runs[b] = run
        ticked((b, run.generation) for b, run in done)
        if err is not None:
            error = err
            break
    if error is not None:
        raise error
    plan.last = max(run.generation for run in runs.values())
    lagging = [b for b in range(plan.n_blocks) if runs[b].generation < plan.last]
    tasks = [(plan.last, [runs[b] for b in batch]) for batch in _batches(lagging, workers)]
    for done, err in run_map(carry_batch, tasks):
        ticked((b, plan.last - runs[b].generation) for b, _ in done)
        for b, run in done:
            runs[b] = run
        if err is not None:
            error = err
            break
    if error is not None:
        raise error
    for b in range(plan.n_blocks):
        run = runs.pop(b)
        record_final(plan, run)
        _fold(plan, run.accs)


def _fold(plan: RunPlan, accs: list[Any]) -> None:
    for obs, acc in zip(plan.observers, accs, strict=True):
        obs.fold(plan, acc)


# ---- executors -----------------------------------------------------------------------


@contextmanager
def _mapper(executor: str, workers: int, scheduler: str | None, plan: RunPlan) -> Iterator[Any]:
    """Yield ``run_map(task, payloads)``: an iterator of the results ``task(plan, payload)``,
    in any order; ``task`` is one of this module's units of work."""
    if executor == "dask":
        with dask_client(workers, scheduler, field="scheduler") as client:
            scattered: list[Any] = []
            yield lambda task, payloads: _map_dask(client, plan, scattered, task, payloads)
        return
    if workers <= 1:
        yield lambda task, payloads: (task(plan, p) for p in payloads)
        return
    if executor == "threads":
        yield lambda task, payloads: _map_threads(plan, task, payloads, workers)
        return
    with ExitStack() as stack:
        made: list[tuple[str, str]] = []  # the plan's file, written when first needed

        def run_map(task: Any, payloads: list[Any]) -> Iterator[Any]:
            if not payloads:
                return iter(())
            if not made:
                made.append(stack.enter_context(_plan_file(plan)))
            return _map_loky(*made[0], task, payloads, workers)

        yield run_map


def _map_threads(plan: RunPlan, task: Any, payloads: list[Any], workers: int) -> Iterator[Any]:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(task, plan, p) for p in payloads]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


#: The plan a worker process last loaded, by digest (workers are reused across tasks).
_PLANS: dict[str, RunPlan] = {}


def _run_from_file(path: str, digest: str, task: Any, payload: Any) -> Any:
    plan = _PLANS.get(digest)
    if plan is None:
        with open(path, "rb") as fh:
            plan = pickle.load(fh)  # cloudpickle's output loads with pickle
        _PLANS.clear()
        _PLANS[digest] = plan
    return task(plan, payload)


@contextmanager
def _plan_file(plan: RunPlan) -> Iterator[tuple[str, str]]:
    """The plan (the model, and a data set that may be large) pickled once to a file that each
    worker reads once, rather than once per task."""
    import tempfile

    blob = _dumps(plan)
    digest = hashlib.sha256(blob).hexdigest()
    with tempfile.TemporaryDirectory(prefix="modelcollapse-plan-") as tmp:
        path = os.path.join(tmp, "plan.pkl")
        with open(path, "wb") as fh:
            fh.write(blob)
        del blob
        yield path, digest


def _dumps(obj: Any) -> bytes:
    try:  # by value: lambdas and classes defined in __main__ (what loky itself would use)
        from cloudpickle import dumps
    except ImportError:  # pragma: no cover - loky falls back to pickle as well
        from pickle import dumps
    return dumps(obj)


def _map_loky(
    path: str, digest: str, task: Any, payloads: list[Any], workers: int
) -> Iterator[Any]:
    from joblib import delayed

    if not payloads:
        return
    # Workers watch this process from their start and ignore SIGINT (modelcollapse.workers).
    parallel = loky_parallel(min(workers, len(payloads)))
    with sigint_ignored():
        gen = parallel(delayed(_run_from_file)(path, digest, task, p) for p in payloads)
    # When a plug-in fails, the tasks not yet run are abandoned: its message is the one the
    # user needs, not joblib's advice about cancelled tasks (raised where joblib aborts, so it
    # is filtered for the process, narrowly, rather than around this generator's yields).
    warnings.filterwarnings(
        "ignore", message=r".*tasks which were still being processed by the workers",
        category=UserWarning,
    )
    try:
        yield from gen
    finally:
        gen.close()  # abandons the tasks not yet run when the caller stops early


def _map_dask(
    client: Any, plan: RunPlan, scattered: list[Any], task: Any, payloads: list[Any]
) -> Iterator[Any]:
    from distributed import as_completed

    if not payloads:
        return
    if not scattered:  # once per run, shared by both phases of ``until``
        scattered.extend(client.scatter([plan], broadcast=True, hash=False))
    plan_f = scattered[0]
    tag = uuid.uuid4().hex[:8]  # a shared scheduler may hold another run's tasks
    futures = [
        client.submit(task, plan_f, p, key=f"modelcollapse-{task.__name__}-{i}-{tag}", pure=False)
        for i, p in enumerate(payloads)
    ]
    try:
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result
    finally:
        for future in futures:
            future.cancel()


# ---- resumption: one Parquet file per batch of finished trials ---------------------------


def describe_observer(obs: Any) -> list[Any]:
    """[the class's qualified name, its ``describe()``]: what identifies an observer in a
    checkpoint's fingerprint."""
    cls = type(obs)
    describe = getattr(obs, "describe", None)
    return [f"{cls.__module__}:{cls.__qualname__}", describe() if callable(describe) else None]


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
        "observers": [describe_observer(o) for o in plan.observers],
        "until": None if plan.until is None else plan.until.until,
    }
    blob = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


class CheckpointWarning(UserWarning):
    """Stored trials that cannot be stored or reused (they run again)."""


class TrialStore:
    """The checkpoint directory of a plug-in run.

    A file's ``stage`` is ``"final"`` (accumulators at the horizon) or, under ``until``,
    ``"stopped"`` (a trial's BlockRun where its own trials entered the event).
    """

    def __init__(self, directory: str | os.PathLike, plan: RunPlan):
        from modelcollapse.models.metrics import PluginMetrics

        self.dir = Path(directory)
        self.plan = plan
        self.fp = fingerprint(plan)
        self.stage = "final" if plan.until is None else "stopped"
        self.metrics_at = next(
            i for i, o in enumerate(plan.observers) if isinstance(o, PluginMetrics)
        )
        self._warned = False

    def _accs(self, item: Any) -> list[Any]:
        return item.accs if isinstance(item, BlockRun) else item

    def _portable(self, item: Any) -> Any:
        """What is pickled for a trial: under ``until`` its BlockRun (its metrics accumulator
        keeps its stream, to measure the generations still to come); else its accumulators,
        the metrics one without its spent stream and reference sample (``fold`` drops them)."""
        if isinstance(item, BlockRun):
            return _detached(item)
        accs = list(item)
        accs[self.metrics_at] = dataclasses.replace(accs[self.metrics_at], rng=None, reference=None)
        return accs

    def save(self, done: list[tuple[int, Any]]) -> None:
        """Write one batch of finished trials (one file): [(trial, accumulators or BlockRun)]."""
        from modelcollapse.store import write_parquet

        obs = self.plan.observers[self.metrics_at]
        tables = [self._accs(item)[self.metrics_at].table(obs.names) for _, item in done]
        blobs: list[bytes | None] = []
        for _, item in done:
            try:
                blobs.append(_dumps(self._portable(item)))
            except Exception as exc:  # an observer's accumulator that cannot be pickled
                blobs.append(None)
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"checkpoint: trials cannot be stored for resumption "
                        f"({type(exc).__name__}: {exc}); a rerun runs them again",
                        CheckpointWarning,
                        stacklevel=2,
                    )
        lengths = [len(tb["generation"]) for tb in tables]
        state = np.empty(sum(lengths), dtype=object)
        state[np.cumsum([0, *lengths[:-1]])] = blobs  # on each trial's first row
        cols = {
            "trial": np.concatenate(
                [np.full(k, t, dtype=np.int64) for (t, _), k in zip(done, lengths, strict=True)]
            ),
            **{k: np.concatenate([tb[k] for tb in tables]) for k in tables[0]},
            "state": state,
        }
        trials = [t for t, _ in done]
        self.dir.mkdir(parents=True, exist_ok=True)
        write_parquet(
            cols,
            self.dir / f"trials-{trials[0]:06d}-{trials[-1]:06d}.parquet",
            {
                "fingerprint": self.fp,
                "stage": self.stage,
                "trials": trials,
                "metrics": list(obs.names),
            },
        )

    def load(self) -> dict[int, Any]:
        """The stored trials that match this run (others are ignored): trial -> accumulators
        (or, under ``until``, its BlockRun)."""
        if not self.dir.is_dir():
            return {}
        out: dict[int, Any] = {}
        for path in sorted(self.dir.glob("trials-*.parquet")):
            for t, item in self._read(path).items():
                out.setdefault(t, item)
        return out

    def _read(self, path: Path) -> dict[int, Any]:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {}).get(b"modelcollapse", b"{}"))
            trial_col = table.column("trial").to_numpy()
            blobs = table.column("state").to_pylist()
        except (OSError, ValueError, KeyError):  # unreadable, or another layout: run again
            return {}
        names = list(self.plan.observers[self.metrics_at].names)
        if (
            meta.get("fingerprint") != self.fp
            or meta.get("stage") != self.stage
            or meta.get("metrics") != names
        ):
            return {}
        recorded = [int(g) for g in self.plan.recorded()]
        out = {}
        for t in meta.get("trials", []):
            if not isinstance(t, int) or not 0 <= t < self.plan.trials:
                continue
            rows = np.flatnonzero(trial_col == t)
            if rows.size == 0 or blobs[rows[0]] is None:
                continue
            try:
                item = pickle.loads(blobs[rows[0]])
            except Exception as exc:  # e.g. an observer's class changed or is gone
                warnings.warn(
                    f"checkpoint: {path.name} cannot be reused ({type(exc).__name__}: {exc}); "
                    "its trials run again",
                    CheckpointWarning,
                    stacklevel=2,
                )
                return {}
            if self._fits(t, item, recorded):
                out[t] = item
        return out

    def _fits(self, t: int, item: Any, recorded: list[int]) -> bool:
        """Whether an unpickled trial has the shape this run expects of it."""
        n_obs = len(self.plan.observers)
        if self.stage == "stopped":
            return (
                isinstance(item, BlockRun)
                and item.block == self.plan.block(t)
                and len(item.accs) == n_obs
                and 0 <= item.generation <= self.plan.generations
            )
        return (
            isinstance(item, list)
            and len(item) == n_obs
            and list(getattr(item[self.metrics_at], "gens", ())) == recorded
        )


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
