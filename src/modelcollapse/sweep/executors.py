"""Where the cells of a sweep run: in this process, in local processes (joblib), or on Dask.

Every executor maps the same pure function, ``run_cell``, over cell payloads and yields its
results as they finish (in any order). Results come back to the calling process, which alone
writes files: a worker that dies, or a client that is killed, never leaves a partial cell.
A cell's random streams depend only on the sweep seed and the cell's index, so every executor
and any number of workers give identical cells.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from modelcollapse.config import RunConfig
from modelcollapse.engine import simulate
from modelcollapse.errors import ConfigError

EXECUTORS = ("local", "dask")


def cell_payload(index: int, cfg: RunConfig, cell_hash: str) -> dict[str, Any]:
    """The plain data a worker needs to run one cell."""
    return {"index": index, "hash": cell_hash, "config": cfg.model_dump()}


def run_cell(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one cell: configuration -> summary columns. Never raises.

    Returns
    -------
    dict with ``index``, ``hash``, ``ok``, ``elapsed_s`` and either ``columns`` (generation,
    metric, value, stderr as numpy arrays) or ``error`` and ``traceback``.
    """
    started = time.perf_counter()
    out: dict[str, Any] = {"index": payload["index"], "hash": payload["hash"]}
    try:
        cfg = RunConfig.model_validate(payload["config"])
        result = simulate(
            cfg.build_family(), cell=payload["index"], progress=False, **cfg.simulate_kwargs()
        )
        summary = result.summary
        out["columns"] = {
            k: summary[k].to_numpy() for k in ("generation", "metric", "value", "stderr")
        }
        out["ok"] = True
    except Exception as exc:  # a failed cell is reported and retried, not fatal to the sweep
        out.update(ok=False, error=_error_line(exc), traceback=_traceback(exc))
    out["elapsed_s"] = time.perf_counter() - started
    return out


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def check_options(executor: str, workers: int | None, scheduler: str | None) -> None:
    """Reject impossible executor settings before anything is written."""
    if executor not in EXECUTORS:
        raise ConfigError("--executor", executor, f"one of: {', '.join(EXECUTORS)}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ConfigError("--workers", workers, "an integer >= 1")
    if scheduler is not None and executor != "dask":
        raise ConfigError("--scheduler", scheduler, "only with --executor dask")
    if executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--executor",
                executor,
                "dask.distributed is not installed: pip install 'modelcollapse[dask]'",
            ) from None


@contextmanager
def open_executor(
    executor: str, workers: int | None = None, scheduler: str | None = None
) -> Iterator[Any]:
    """Yield a function ``payloads -> iterator of run_cell results`` (as they finish)."""
    check_options(executor, workers, scheduler)
    if executor == "local":
        n = workers or default_workers()
        yield lambda payloads: _map_local(payloads, n)
        return
    with _dask_client(workers, scheduler) as client:
        yield lambda payloads: _map_dask(client, payloads)


def _map_local(payloads: Sequence[dict[str, Any]], workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1 or len(payloads) <= 1:
        # No pool: one worker runs cells in this process (no start-up cost, easy to debug).
        for payload in payloads:
            yield run_cell(payload)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(
        n_jobs=min(workers, len(payloads)),
        backend="loky",
        return_as="generator_unordered",
        batch_size=1,
        pre_dispatch="2*n_jobs",
    )
    yield from parallel(delayed(run_cell)(p) for p in payloads)


@contextmanager
def _dask_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                "--scheduler", scheduler, f"the address of a running dask scheduler ({exc})"
            ) from None
    else:
        cluster = LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _map_dask(client: Any, payloads: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]  # unique keys: a shared scheduler may hold another run's tasks
    futures = {
        client.submit(run_cell, p, key=f"modelcollapse-cell-{p['index']}-{run}", pure=False): p
        for p in payloads
    }
    try:
        for future in as_completed(futures):
            payload = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker died (KilledWorker) or the task was lost
                result = {
                    "index": payload["index"],
                    "hash": payload["hash"],
                    "ok": False,
                    "error": _error_line(exc),
                    "traceback": _traceback(exc),
                    "elapsed_s": float("nan"),
                }
            future.release()
            yield result
    finally:
        for future in futures:
            future.cancel()


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))
