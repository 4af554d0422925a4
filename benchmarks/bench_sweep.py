"""Sweep speed: a 64-cell sweep on the local executor with 1 and 2 workers, and on Dask.

Run:  python benchmarks/bench_sweep.py [--quick | --tiny] [--no-dask] [--repeat R] [--json FILE]

Each configuration runs the same sweep into a fresh directory (so nothing is skipped) and is
timed end to end as a user sees it: joblib's worker start-up and the Dask LocalCluster start-up
are included. The Dask overhead per cell is measured against the local executor with the same
number of workers, with the cluster start-up (timed separately) taken out. Every run's cells are
checked to be identical to the one-worker run's. With ``--repeat R`` each time is the best of
R runs (the machine is often shared; the best run is the least disturbed one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from joblib.externals.loky import get_reusable_executor

from modelcollapse.sweep import parse_sweep, query, run_sweep


def make_sweep(trials: int) -> dict:
    """4 n x 4 p x 4 replicates = 64 Bernoulli cells (about 0.3 s each at 32,000 trials on one core)."""
    return {
        "seed": 2024,
        "replicates": 4,
        "base": {
            "family": "bernoulli",
            "generations": 100,
            "trials": trials,
            "params": {"p": 0.05},
        },
        "grid": {"n": [25, 50, 100, 200], "params.p": [0.01, 0.02, 0.05, 0.1]},
    }


def timed(spec, out: Path, repeat: int = 1, **kwargs) -> float:
    best = float("inf")
    for r in range(repeat):
        target = out if r == repeat - 1 else out.with_name(f"{out.name}-{r}")
        # joblib keeps its worker processes between calls; stop them so that every run pays
        # the start-up, as a new `modelcollapse sweep` command does.
        get_reusable_executor().shutdown(wait=True)
        start = time.perf_counter()
        report = run_sweep(spec, target, progress=False, **kwargs)
        best = min(best, time.perf_counter() - start)
        assert report.ok and report.ran == len(spec.cells), report
        if target != out:
            shutil.rmtree(target)
    return best


def same(a: Path, b: Path) -> bool:
    # DataFrame.equals treats NaN (a censored hitting time) as equal to NaN.
    return query(a).equals(query(b))


def dask_startup(workers: int, repeat: int = 1) -> float:
    from modelcollapse.sweep.executors import open_executor

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with open_executor("dask", workers):
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cells (a smoke run)")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny cells: checks that the script runs (tests)"
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask executor")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    spec = parse_sweep(make_sweep(200 if args.tiny else 2_000 if args.quick else 32_000))
    cells = len(spec.cells)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cells}-cell sweep on {platform.processor() or platform.machine()}, {cpus} CPUs")

    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    results: dict[str, float] = {}
    try:
        r = args.repeat
        results["local_1"] = timed(spec, root / "local-1", r, executor="local", workers=1)
        results["local_2"] = timed(spec, root / "local-2", r, executor="local", workers=2)
        assert same(root / "local-1", root / "local-2")
        if not args.no_dask:
            results["dask_startup_2"] = dask_startup(2, r)
            results["dask_2"] = timed(spec, root / "dask-2", r, executor="dask", workers=2)
            assert same(root / "local-1", root / "dask-2")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    speedup = results["local_1"] / results["local_2"]
    print(f"{'executor':<26}{'wall s':>9}{'ms/cell':>10}")
    for key, label in (("local_1", "local, 1 worker"), ("local_2", "local, 2 workers")):
        print(f"{label:<26}{results[key]:>9.2f}{1000 * results[key] / cells:>10.1f}")
    print(f"speed-up of 2 workers over 1: {speedup:.2f}x")
    out = {"cells": cells, "cpus": cpus, **results, "speedup_2_over_1": speedup}
    if "dask_2" in results:
        per_cell = (results["dask_2"] - results["dask_startup_2"] - results["local_2"]) / cells
        out["dask_overhead_per_cell_ms"] = 1000 * per_cell
        print(
            f"{'dask LocalCluster, 2':<26}{results['dask_2']:>9.2f}"
            f"{1000 * results['dask_2'] / cells:>10.1f}"
        )
        print(
            f"dask cluster start-up: {results['dask_startup_2']:.2f} s; "
            f"overhead per cell vs local (start-up excluded): {1000 * per_cell:.1f} ms"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
