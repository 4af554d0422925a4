"""Every benchmark script runs, at a tiny size (``--tiny``), as a user would run it (the engine,
collapse and forget benchmarks in process, through their ``main``, with checks of what they
return: identical summaries for any worker count, the mean absorption time).

A benchmark that crashes (as bench_text.py did when ``forget()`` lost an argument) is found
here rather than by the next person who wants a number. Timings are not checked.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
#: Scripts run in process below, through their ``main``, with checks of what they return.
IN_PROCESS = {"bench_engine.py", "bench_collapse.py", "bench_forget.py"}


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


@pytest.mark.parametrize(
    "script", [s for s in SCRIPTS if s.name not in IN_PROCESS], ids=lambda p: p.name
)
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


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_engine_runs_tiny(capsys):
    out = _load("bench_engine").main(["--tiny"])
    assert {r["setting"] for r in out["engine"]} >= {"gaussian n=1000", "poisson lambda0=1 n=100"}
    for r in out["engine"]:
        assert all(r[k] > 0 for k in ("raw", "default", "one", "naive"))
    assert all(w["identical"] for w in out["workers"])  # results never depend on the workers
    assert "| gaussian n=1000 |" in capsys.readouterr().out


def test_bench_collapse_runs_tiny(capsys):
    r = _load("bench_collapse").main(["--tiny"])
    assert r["K"] == r["n"] == 10 and r["trials"] == 20
    assert r["ours_s"] > 0 and r["peer_s"] > 0
    # Both sides simulate the same chain: every trial was absorbed, at a positive generation.
    assert math.isfinite(r["mean"]) and r["mean"] >= 1 and r["peer_mean"] >= 1
    assert r["generations_run"] >= r["mean"]
    assert "| 10 |" in capsys.readouterr().out


def test_bench_forget_runs_tiny(tmp_path, capsys):
    corpus = _small_corpus(tmp_path / "corpus.txt")
    r = _load("bench_forget").main(["--tiny", "--corpus", str(corpus)])
    assert r["cli_cpu_s"] > 0 and r["api_same_run_s"] > 0 and r["api_script_s"] > 0
    assert "command / script" in capsys.readouterr().out
