"""Where the cells of a sweep run: in this process, in local processes (joblib), or on Dask.

Every executor maps the same pure function, ``run_cell``, over cell payloads and yields its
results as they finish (in any order). Results come back to the calling process, which alone
writes files: a worker that dies, or a client that is killed, never leaves a partial cell.
A cell's random streams depend only on the sweep seed and the cell's index, so every executor
and any number of workers give identical cells.

Workers die with their parent. A local (loky) worker runs a watch thread from its start
(``modelcollapse.parentwatch``, the pool's initializer) that exits the process when its parent,
the sweep process, is gone (its parent pid changes: orphans are re-parented). Dask workers of a LocalCluster already do so: distributed gives
each worker process a pipe from its parent and exits it as soon as the pipe closes; workers of a
separate scheduler belong to that cluster and outlive the client by design (their tasks of a
killed client are released by the scheduler). Workers ignore SIGINT, so Ctrl-C reaches only the
sweep process, which stops cleanly (finished cells are kept).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from modelcollapse.config import RunConfig
from modelcollapse.engine import simulate
from modelcollapse.errors import ConfigError
from modelcollapse.parentwatch import watch_parent
from modelcollapse.workers import dask_client, loky_parallel, quiet_trackers, sigint_ignored

EXECUTORS = ("local", "dask")
#: Below this much work in all (``cell_draws``: 2 to 6 s at the engine's 1.5 to 5 million
#: trial-generations a second) a local sweep runs in this process: worker processes take 1 to 2 s
#: to start, and half of this work per worker would not win that back.
TINY_SWEEP_DRAWS = 1e7


def cell_payload(
    index: int, cfg: RunConfig, cell_hash: str, parent_pid: int | None = None
) -> dict[str, Any]:
    """The plain data a worker needs to run one cell.

    ``parent_pid``: the sweep process, which a local worker watches (it exits when it is gone).
    """
    return {"index": index, "hash": cell_hash, "config": cfg.model_dump(), "parent_pid": parent_pid}


def cell_draws(cfg: RunConfig) -> float:
    """Rough work of one cell in elementary draws (trials x generations x numbers per step)."""
    try:
        fam = cfg.build_family()
        naive = (cfg.method or ("exact" if fam.has_exact else "naive")) == "naive"
        per_step = fam.state_elements() + (cfg.n if naive else 0)
    except Exception:  # a cell that cannot build its family fails when it runs, not here
        per_step = 1
    return float(cfg.trials) * float(cfg.generations) * float(per_step)


def run_cell(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one cell: configuration -> summary columns. Never raises.

    Returns
    -------
    dict with ``index``, ``hash``, ``ok``, ``elapsed_s`` and either ``columns`` (generation,
    metric, value, stderr as numpy arrays) or ``error`` and ``traceback``.
    """
    started = time.perf_counter()
    # Dask LocalCluster workers: watched from their first cell (loky workers already are, from
    # their start, by the pool's initializer).
    watch_parent(payload.get("parent_pid"), strict=False)
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
    if workers is not None and workers > 1024:
        raise ConfigError("--workers", workers, "an integer from 1 to 1024")
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
        if scheduler is not None:
            check_scheduler_address(scheduler)


def check_scheduler_address(scheduler: str) -> None:
    """The form of a scheduler address (``tcp://host:port``), checked without connecting."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(scheduler, strict=False)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(location)
            if not host:
                raise ValueError("no host")
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "--scheduler", scheduler, f"a scheduler address such as tcp://host:8786 ({exc})"
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
    with dask_client(workers or default_workers(), scheduler) as client:
        yield lambda payloads: _map_dask(client, payloads)


def _map_local(payloads: Sequence[dict[str, Any]], workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1 or len(payloads) <= 1:
        # No pool: one worker runs cells in this process (no start-up cost, easy to debug).
        for payload in payloads:
            yield run_cell(payload)
        return

    with quiet_trackers():
        yield from _map_loky(payloads, workers)


def _map_loky(payloads: Sequence[dict[str, Any]], workers: int) -> Iterator[dict[str, Any]]:
    from joblib import delayed

    # The watch starts as each worker process starts, before its first cell: a parent killed
    # while workers are still importing must not leave them behind.
    parallel = loky_parallel(min(workers, len(payloads)))
    with sigint_ignored():
        results = parallel(delayed(run_cell)(p) for p in payloads)
    yield from results


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
