"""The Dask executor gives the same cells as the local one: on a LocalCluster with worker
processes, and on a real multi-process deployment (``dask scheduler`` and two ``dask worker``
processes on loopback) that the sweep reaches by its address."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'modelcollapse[dask]')"
)


from modelcollapse.sweep import run_sweep  # noqa: E402

from sweep_helpers import QUICK_SWEEP, assert_same_cells


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dask")
    sweep = root / "quick.toml"
    sweep.write_text(textwrap.dedent(QUICK_SWEEP), encoding="utf-8")
    out = root / "local"
    assert run_sweep(sweep, out, executor="local", workers=1, progress=False).ok
    return sweep, out


def test_local_cluster_matches_local_executor(tmp_path, reference):
    sweep, local = reference
    out = tmp_path / "dask"
    report = run_sweep(sweep, out, executor="dask", workers=2, progress=False)
    assert report.ok and report.ran == 8
    assert_same_cells(local, out)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str) -> subprocess.Popen:
    # `python -m dask` is the `dask` command of this interpreter's environment.
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_scheduler_and_two_worker_processes_on_loopback(tmp_path, reference):
    from distributed import Client

    sweep, local = reference
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        for _ in range(2):
            procs.append(
                _dask(
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                client = Client(address, timeout="5s")
                break
            except OSError:
                assert all(p.poll() is None for p in procs), "a dask process exited"
                assert time.monotonic() < deadline, "the scheduler did not start in 60 s"
                time.sleep(0.2)
        try:
            client.wait_for_workers(2, timeout=60)
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2
            assert len({w["pid"] if "pid" in w else addr for addr, w in workers.items()}) == 2
        finally:
            client.close()

        out = tmp_path / "cluster"
        report = run_sweep(sweep, out, executor="dask", scheduler=address, progress=False)
        assert report.ok and report.ran == 8
        assert_same_cells(local, out)
    finally:
        for proc in reversed(procs):
            _stop(proc)
