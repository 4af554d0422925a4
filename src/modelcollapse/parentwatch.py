"""Worker processes that die with their parent.

A process whose parent exits is re-parented (to init or a subreaper), so ``os.getppid()``
changes; a daemon thread polls it and ends the process. This module imports nothing heavy on
purpose: it is the initializer of local sweep workers, and it must start watching before the
worker spends seconds importing numpy and scipy, or a parent killed during that start-up
would leave the worker behind (as it did: 36 orphans holding 2.9 GB for over ten minutes).
"""

from __future__ import annotations

import os
import signal
import threading
import time

#: Seconds between checks that the parent is alive.
POLL_S = 0.5
#: Exit status of a worker whose parent is gone (EX_SOFTWARE; nobody reads it).
EXIT_ORPHANED = 70

_watched: int | None = None


def watch_parent(parent_pid: int | None, *, strict: bool = True) -> None:
    """Exit this process as soon as ``parent_pid`` is no longer its parent.

    Parameters
    ----------
    parent_pid : the process that started this one (the sweep process); None or our own pid:
        nothing to do.
    strict : when this process's parent is already someone else, the parent has died: exit at
        once (loky workers, which the sweep process starts itself). With ``strict=False`` a
        different parent means the process was started by someone else (a Dask worker of another
        cluster) and nothing is watched.

    Also ignores SIGINT in this process, so that Ctrl-C in a terminal, which signals the whole
    process group, interrupts only the sweep process, which then stops the workers itself.
    """
    global _watched
    if parent_pid is None or parent_pid == os.getpid() or _watched == parent_pid:
        return
    if os.getppid() != parent_pid:
        if strict:
            os._exit(EXIT_ORPHANED)
        return
    _watched = parent_pid
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_S)
        os._exit(EXIT_ORPHANED)  # the sweep process is gone: nobody will collect a result

    threading.Thread(target=watch, name="modelcollapse-parent-watch", daemon=True).start()
