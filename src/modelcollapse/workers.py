"""Worker pools shared by every executor: local processes (joblib's loky) and Dask clients.

Sweeps (one cell per task) and per-trial models (a batch of trials per task) start their
workers here, so both get the same guarantees (issue "Nothing lost, nothing stray"):

- local workers die with their parent: each runs ``modelcollapse.parentwatch.watch_parent`` as
  the pool's initializer, before it imports anything heavy; Dask workers of a LocalCluster exit
  when their parent's pipe closes (distributed's own nanny protocol);
- workers are started with SIGINT ignored, so Ctrl-C in a terminal reaches only the parent,
  which stops cleanly with one line, instead of every worker printing a KeyboardInterrupt;
- the resource trackers of those pools do not print warnings about the semaphores they clean
  up after an interrupted run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelcollapse.errors import ConfigError
from modelcollapse.parentwatch import watch_parent


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes are started here (they inherit SIG_IGN, and Python
    then installs no KeyboardInterrupt handler in them); only possible in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: Warnings that resource trackers print when they clean up after an interrupted run.
_TRACKER_WARNINGS = (
    "ignore::UserWarning:multiprocessing.resource_tracker",
    "ignore::UserWarning:joblib.externals.loky.backend.resource_tracker",
)


@contextmanager
def quiet_trackers() -> Iterator[None]:
    """Silence the resource trackers of the worker pools started inside this block.

    multiprocessing's and loky's trackers (helper processes that inherit the environment) warn
    about the semaphores they clean up after Ctrl-C; the cleanup is their job, and the warning
    would follow the one-line message. Only processes started meanwhile see the change.
    """
    before = os.environ.get("PYTHONWARNINGS")
    extra = ",".join(_TRACKER_WARNINGS)
    os.environ["PYTHONWARNINGS"] = f"{before},{extra}" if before else extra
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = before


def loky_parallel(n_jobs: int) -> Any:
    """A joblib Parallel on loky processes whose workers watch this process from their start
    (a worker that starts orphaned exits at once) and yield results as they finish.

    Call it, and start iterating, inside ``sigint_ignored()``: the workers start then."""
    from joblib import Parallel

    return Parallel(
        n_jobs=n_jobs,
        backend="loky",
        return_as="generator_unordered",
        batch_size=1,
        pre_dispatch="2*n_jobs",
        initializer=watch_parent,
        initargs=(os.getpid(),),
    )


@contextmanager
def dask_client(workers: int, scheduler: str | None, field: str = "--scheduler") -> Iterator[Any]:
    """A client of the Dask scheduler at ``scheduler``, or of a LocalCluster of ``workers``
    single-threaded worker processes (started with SIGINT ignored); closed on exit."""
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                field, scheduler, f"the address of a running dask scheduler ({exc})"
            ) from None
    else:
        with sigint_ignored(), quiet_trackers():
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # CRITICAL, not ERROR: a worker whose heartbeat meets a scheduler already shut
                # down (Ctrl-C on a loaded machine) logs an error with its traceback; failures
                # of tasks reach the client as exceptions, so nothing is lost.
                silence_logs=logging.CRITICAL,
            )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
