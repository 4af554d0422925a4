"""Sweeps that share a directory, lose their parent, find a broken cell or are interrupted
(issue 16).

Real processes: each test starts ``modelcollapse sweep`` as a subprocess and checks exit
statuses, messages, the processes left and the cells on disk. No statistics: cell values are
compared for bit equality with a solo run (``assert_same_cells``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelcollapse.sweep import run_sweep

from sweep_helpers import assert_same_cells

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = dict(os.environ, PYTHONPATH=str(SRC))

#: Six cells of a few tenths of a second each: long enough to overlap, short for a test.
SLOW_SWEEP = """
seed = 5
[base]
family = "gaussian"
generations = 100
trials = 1000
[grid]
n = [10, 20, 30, 40, 50, 60]
"""
#: Long enough that the workers are busy when the parent is killed.
LONG_SWEEP = SLOW_SWEEP.replace("generations = 100", "generations = 100000")


def _sweep_cmd(sweep: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "modelcollapse.cli", "sweep", str(sweep), "--out", str(out),
            "--no-progress", *extra]


def _write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def test_two_sweeps_on_one_directory(tmp_path):
    # Started together, as in the fault campaign (which crashed 5 of 9 such processes): each
    # either runs the sweep or refuses with exit 2 while the other holds the lock; which one wins
    # is up to the scheduler, so both outcomes are accepted, a crash or a traceback never.
    sweep = _write(tmp_path, SLOW_SWEEP)
    out = tmp_path / "shared"
    procs = [
        subprocess.Popen(_sweep_cmd(sweep, out, "--workers", "1"), env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        results.append((proc.returncode, stderr))
    for rc, stderr in results:
        assert "Traceback" not in stderr, stderr
        assert rc in (0, 2), stderr
        if rc == 2:
            assert "is running this sweep" in stderr, stderr
    assert any(rc == 0 for rc, _ in results)
    # The table is complete and identical to a solo run, and nothing is left to do.
    solo = tmp_path / "solo"
    run_sweep(sweep, solo, workers=1)
    assert_same_cells(out, solo)
    again = subprocess.run(_sweep_cmd(sweep, out, "--workers", "1"), env=ENV,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "6 already finished, 0 run" in again.stdout


def test_second_sweep_refused_while_the_lock_is_held(tmp_path):
    from modelcollapse.sweep.store import SweepLock

    sweep = _write(tmp_path, SLOW_SWEEP.replace("trials = 1000", "trials = 20"))
    out = tmp_path / "s"
    run_sweep(sweep, out, workers=1)
    for cell in (out / "cells").glob("*.parquet"):
        cell.unlink()  # work left to do, so that only the lock can stop the second process
    held = SweepLock.acquire(out)  # this test process is "the first sweep"
    try:
        second = subprocess.run(_sweep_cmd(sweep, out, "--workers", "1"), env=ENV,
                                capture_output=True, text=True, timeout=60)
    finally:
        held.release()
    assert second.returncode == 2, second.stderr
    assert f"pid {os.getpid()} on " in second.stderr and "is running this sweep" in second.stderr
    assert list((out / "cells").glob("*")) == [], "the refused process touched nothing"


def test_half_created_directory_of_a_running_sweep_is_in_use(tmp_path):
    # What a second sweep sees when it looks while the first is creating the directory: the
    # lock taken, no sweep.json yet. That is "in use", with --force too, never "not a sweep";
    # CI once caught the looks racing with the creation (a directory taken for a file).
    from modelcollapse.sweep import load_sweep
    from modelcollapse.sweep.store import SweepDir, SweepLock

    spec = load_sweep(_write(tmp_path, SLOW_SWEEP))
    out = tmp_path / "s"
    assert SweepDir.refusal(out, spec, force=False) is None, "nothing there: a new sweep"
    out.mkdir()
    held = SweepLock.acquire(out)
    try:
        (out / "cells").mkdir()
        for force in (False, True):
            refusal = SweepDir.refusal(out, spec, force=force)
            assert refusal is not None and "is running this sweep" in refusal, refusal
    finally:
        held.release()
    assert "no sweep.json" in SweepDir.refusal(out, spec, force=False)
    assert SweepDir.refusal(out, spec, force=True) is None, "--force moves it aside"
    (tmp_path / "f").write_text("x")
    assert "this is a file" in SweepDir.refusal(tmp_path / "f", spec, force=False)


def test_lock_of_a_killed_sweep_is_not_stale(tmp_path):
    sweep = _write(tmp_path, LONG_SWEEP)
    out = tmp_path / "s"
    proc = subprocess.Popen(_sweep_cmd(sweep, out, "--workers", "1"), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = out / ".sweep.lock"
    assert _wait_for(lambda: lock.is_file() and lock.read_text().startswith("pid"), 30)
    proc.kill()
    proc.wait()
    # The lock file still names the dead process, but its flock died with it: the next run
    # takes the lock at once, no stale-lock cleanup needed.
    assert lock.read_text().startswith(f"pid {proc.pid} ")
    from modelcollapse.sweep.store import SweepLock

    held = SweepLock.acquire(out)
    assert lock.read_text().startswith(f"pid {os.getpid()} ")
    held.release()


@pytest.mark.parametrize(
    ("executor", "marker"), [("local", b"popen_loky_posix"), ("dask", b"spawn_main")]
)
def test_workers_die_with_their_parent(tmp_path, executor, marker):
    # local: loky workers watch their parent (modelcollapse.parentwatch); dask: LocalCluster
    # workers exit through distributed's parent pipe. Either way, none may outlive the parent
    # by more than a few seconds (the fault campaign found loky orphans after ten minutes).
    if executor == "dask":
        pytest.importorskip("distributed")
    sweep = _write(tmp_path, LONG_SWEEP)
    out = tmp_path / "s"
    proc = subprocess.Popen(
        _sweep_cmd(sweep, out, "--executor", executor, "--workers", "2"), env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    kids: list[int] = []
    try:
        def workers() -> list[int]:
            kids = []
            for pid in _children(proc.pid):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if marker in cmd:
                    kids.append(pid)
            return kids

        assert _wait_for(lambda: len(workers()) >= 2, 60), "two workers started"
        if executor == "dask":
            # Dask workers watch their parent once distributed is imported and the worker has
            # connected; the sweep takes its lock after the LocalCluster is up. (A Dask worker
            # still importing when its parent dies lives until its import ends: distributed's
            # behaviour, not ours. Local workers are killed during start-up on purpose.)
            assert _wait_for((out / ".sweep.lock").is_file, 60)
        kids = workers()
        time.sleep(0.5)  # starting up or inside a cell: either way they must go
        proc.send_signal(signal.SIGKILL)  # the parent only, not its process group
        proc.wait()
        started = time.monotonic()
        gone = _wait_for(lambda: not any(_alive(k) for k in kids), 10)
        survived = time.monotonic() - started
        assert gone, f"workers {kids} still alive 10 s after their parent was killed"
        # The watch polls every 0.5 s; a worker still importing when the parent dies exits as
        # soon as its (light) initializer runs. Allow for a busy 2-core machine.
        assert survived < 5, survived
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in kids:  # never leave an orphan behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_truncated_cell_is_recomputed_on_resume(tmp_path):
    sweep = _write(tmp_path, SLOW_SWEEP.replace("trials = 1000", "trials = 200"))
    out, solo = tmp_path / "s", tmp_path / "solo"
    run_sweep(sweep, out, workers=1)
    run_sweep(sweep, solo, workers=1)
    victim = sorted((out / "cells").glob("*.parquet"))[2]
    size = victim.stat().st_size
    with victim.open("r+b") as handle:
        handle.truncate(size // 2)
    from click.testing import CliRunner

    from modelcollapse.cli import cli

    # Before the resume, results names the broken file instead of failing inside DuckDB.
    res = CliRunner().invoke(cli, ["results", str(out)])
    assert res.exit_code == 2 and victim.name in res.output and "run the sweep again" in res.output
    report = run_sweep(sweep, out, workers=1)
    assert report.ran == 1 and report.skipped == 5 and report.ok
    assert len(report.broken) == 1 and Path(report.broken[0]).parent.name == "failed"
    assert not list((out / "failed").glob("*.json")), "the recomputed cell is no failure"
    assert_same_cells(out, solo)


def test_file_with_wrong_rows_is_recomputed(tmp_path):
    # A whole Parquet file whose row count disagrees with its own metadata (a different write)
    # is not a finished cell either.
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    sweep = _write(tmp_path, SLOW_SWEEP.replace("trials = 1000", "trials = 200"))
    out = tmp_path / "s"
    run_sweep(sweep, out, workers=1)
    victim = sorted((out / "cells").glob("*.parquet"))[0]
    table = pq.read_table(victim)
    meta = json.loads(table.schema.metadata[b"modelcollapse"])
    half = table.slice(0, table.num_rows // 2).replace_schema_metadata(
        {b"modelcollapse": json.dumps(meta).encode()}
    )
    pq.write_table(pa.table(half), victim)
    report = run_sweep(sweep, out, workers=1)
    assert report.ran == 1 and len(report.broken) == 1


def test_scheduler_not_an_address_writes_nothing(tmp_path):
    pytest.importorskip("distributed")
    sweep = _write(tmp_path, SLOW_SWEEP)
    out = tmp_path / "s"
    result = subprocess.run(
        _sweep_cmd(sweep, out, "--executor", "dask", "--scheduler", "notanaddress"),
        env=ENV, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "invalid --scheduler: 'notanaddress'" in result.stderr
    assert not out.exists()


def test_tiny_sweep_runs_in_process_and_says_so(tmp_path):
    sweep = _write(tmp_path, SLOW_SWEEP.replace("trials = 1000", "trials = 20"))
    result = subprocess.run(_sweep_cmd(sweep, tmp_path / "s", "--workers", "2"), env=ENV,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "local executor, 1 worker]" in result.stdout
    assert "less work than starting 2 worker processes" in result.stderr


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_ctrl_c_is_one_line(tmp_path, executor):
    if executor == "dask":
        pytest.importorskip("distributed")
    sweep = _write(tmp_path, LONG_SWEEP)
    out = tmp_path / "s"
    proc = subprocess.Popen(_sweep_cmd(sweep, out, "--executor", executor, "--workers", "2"),
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        def busy() -> bool:
            return len(_children(proc.pid)) >= 2 and (out / ".sweep.lock").is_file()

        assert _wait_for(busy, 60)
        time.sleep(1.5)  # cells are running in the workers
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: the whole process group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [f"interrupted: finished cells are kept in {out}; run the same command to "
                     "resume"], stderr


def test_lock_without_flock_uses_the_stamp(tmp_path, monkeypatch):
    # On a file system without flock (ENOLCK), the lock file's "pid P on HOST" is the lock:
    # a live process of this host or any process of another host holds it; a dead one does not.
    import errno
    import fcntl
    import socket

    from modelcollapse.errors import ConfigError
    from modelcollapse.sweep.store import LOCK, SweepLock

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    lock = tmp_path / LOCK
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cases = [
        (f"pid {os.getppid()} on {host} since now\n", True),  # alive, this host
        (f"pid {dead.pid} on {host} since now\n", False),  # stale
        (f"pid {dead.pid} on another-host.example since now\n", True),  # cannot tell: respected
        ("", False),
    ]
    for stamp, held in cases:
        lock.write_text(stamp)
        assert (SweepLock.holder(tmp_path) is not None) == held, stamp
        if held:
            with pytest.raises(ConfigError, match="is running this sweep"):
                SweepLock.acquire(tmp_path)
        else:
            taken = SweepLock.acquire(tmp_path)
            assert lock.read_text().startswith(f"pid {os.getpid()} on {host} ")
            taken.release()
