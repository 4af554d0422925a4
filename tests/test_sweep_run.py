"""Running sweeps: a sweep killed with SIGKILL resumes to exactly the uninterrupted result, and
the local executor gives identical cells for any number of workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelcollapse.sweep import query, run_sweep

from sweep_helpers import QUICK_SWEEP, assert_same_cells

#: Twelve cells of about 0.2-0.3 s each (on a 2-core machine), so a kill lands mid-sweep.
SLOW_SWEEP = """
seed = 11
[base]
family = "bernoulli"
generations = 100
trials = 16000
[base.params]
p = 0.05
[grid]
n = [50, 100, 200]
"params.p" = [0.02, 0.05]
estimator = ["ml"]
[[cell]]
n = 75
"params.p" = 0.3
"""


def _cells(out: Path) -> int:
    cells = out / "cells"
    return len(list(cells.glob("cell-*.parquet"))) if cells.is_dir() else 0


def test_sigkill_mid_sweep_then_resume_matches_uninterrupted_run(tmp_path):
    sweep = tmp_path / "slow.toml"
    sweep.write_text(textwrap.dedent(SLOW_SWEEP), encoding="utf-8")
    total = 7
    interrupted = tmp_path / "interrupted"
    cmd = [
        sys.executable,
        "-m",
        "modelcollapse.cli",
        "sweep",
        str(sweep),
        "--out",
        str(interrupted),
        "--workers",
        "2",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while _cells(interrupted) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the sweep wrote no cells in 60 s"
            time.sleep(0.01)
        # The whole process group: the sweep and its joblib worker processes.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done_at_kill = _cells(interrupted)
    assert 2 <= done_at_kill < total, f"the kill should land mid-sweep ({done_at_kill} done)"
    assert proc.returncode == -signal.SIGKILL

    report = run_sweep(sweep, interrupted, workers=2, progress=False)
    assert report.ok
    assert report.skipped >= done_at_kill and report.skipped + report.ran == total
    assert _cells(interrupted) == total
    assert not list((interrupted / "cells").glob(".*"))  # no temporary files left

    reference = tmp_path / "reference"
    run_sweep(sweep, reference, workers=1, progress=False)
    table = query(interrupted)
    assert sorted(set(table["cell"].tolist())) == list(range(total))
    per_cell = query(interrupted, "SELECT cell, count(*) AS k FROM cells GROUP BY cell")
    assert len(set(per_cell["k"].tolist())) == 1, "every cell exactly once"
    assert_same_cells(interrupted, reference)


@pytest.fixture(scope="module")
def quick_reference(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("quick")
    sweep = root / "quick.toml"
    sweep.write_text(textwrap.dedent(QUICK_SWEEP), encoding="utf-8")
    out = root / "one-worker"
    report = run_sweep(sweep, out, executor="local", workers=1, progress=False)
    assert report.ok and report.ran == 8
    return sweep, out


def test_local_executor_one_and_two_workers_identical(tmp_path, quick_reference):
    sweep, one = quick_reference
    two = tmp_path / "two-workers"
    report = run_sweep(sweep, two, executor="local", workers=2, progress=False)
    assert report.ok and report.ran == 8
    assert_same_cells(one, two)
    table = query(two, "SELECT DISTINCT cell, n, estimator, replicate FROM cells ORDER BY cell")
    assert table["replicate"].tolist() == [0, 1] * 4
    assert table["estimator"].tolist() == ["unbiased", "unbiased", "ml", "ml"] * 2
