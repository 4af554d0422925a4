"""Every benchmark script runs, at a tiny size (``--tiny``), as a user would run it.

A benchmark that crashes (as bench_text.py did when ``forget()`` lost an argument) is found
here rather than by the next person who wants a number. Timings are not checked.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def _small_corpus(path: Path) -> Path:
    rng = np.random.default_rng(7)
    words = np.array([f"w{i}" for i in range(300)])
    weights = 1.0 / (np.arange(300) + 2.7)
    tokens = rng.choice(words, size=3000, p=weights / weights.sum())
    path.write_text(
        "\n".join(" ".join(tokens[i : i + 12]) for i in range(0, 3000, 12)) + "\n",
        encoding="utf-8",
    )
    return path


def test_every_script_has_a_tiny_size():
    assert len(SCRIPTS) >= 4
    for script in SCRIPTS:
        assert "--tiny" in script.read_text(encoding="utf-8"), script.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_runs_at_a_tiny_size(script, tmp_path):
    args = [sys.executable, str(script), "--tiny"]
    if script.name == "bench_text.py":
        args += [str(_small_corpus(tmp_path / "corpus.txt")), "--repeat", "1"]
    if script.name == "bench_sweep.py":
        args += ["--no-dask"]
    if script.name == "bench_mixtures.py":
        args += ["--repeat", "1"]
        if importlib.util.find_spec("sklearn") is None:
            pytest.skip("bench_mixtures.py needs scikit-learn (the sklearn extra)")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert res.stdout.strip(), "the benchmark printed nothing"
