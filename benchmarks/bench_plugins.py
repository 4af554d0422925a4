"""Plug-in speed: the loop's own cost per trial-generation, and trials spread over processes.

Run:  python benchmarks/bench_plugins.py [--quick | --tiny]

1. Overhead: a plug-in whose fit and sample do nothing (fit returns its data, sample slices it)
   with no metrics, so what is timed is the loop itself: the trial's stream, the checks of every
   sample (shape, finiteness), the state objects, the observers' bookkeeping. Target (issue 13):
   at most 20 microseconds per trial-generation. The same plug-in called in a bare Python loop
   is shown for comparison.
2. Processes: a plug-in whose fit computes for about 10 ms (CPU-bound, not sleep), run with
   ``executor="processes"`` on one and on two local workers (the pool is started once before
   timing, as a long run amortises it). Target: two workers at least 1.7 times one. Needs two
   idle cores: on a shared machine the ratio measures the neighbours as much as the code.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from modelcollapse import simulate
from modelcollapse.models.plugin import PluginModel


class Trivial:
    def fit(self, data, rng):
        return data

    def sample(self, fitted, n, rng):
        return fitted[:n]


class Busy:
    """An ML Gaussian whose fit first computes for ``ms`` milliseconds."""

    def __init__(self, ms: float = 10.0):
        self.ms = ms

    def fit(self, data, rng):
        end = time.perf_counter() + self.ms / 1000
        a = np.full((48, 48), 0.5)
        while time.perf_counter() < end:
            a = np.tanh(a @ a / 48)
        return float(data.mean()), float(data.std())

    def sample(self, fitted, n, rng):
        return fitted[0] + fitted[1] * rng.standard_normal((n, 1))


def best_of(func, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def overhead(trials: int, generations: int) -> tuple[float, float]:
    model = PluginModel(model=Trivial(), source="gaussian", reference_size=2)
    kw = dict(n=1, generations=generations, trials=trials, seed=1, metrics=[], progress=False)
    loop = best_of(lambda: simulate(model, **kw))

    def bare() -> None:
        plug = Trivial()
        for t in range(trials):
            rng = np.random.default_rng(t)
            data = rng.standard_normal((1, 1))
            for _ in range(generations):
                data = plug.sample(plug.fit(data, rng), 1, rng)

    return loop / (trials * generations) * 1e6, best_of(bare) / (trials * generations) * 1e6


def scaling(trials: int, generations: int) -> tuple[float, float]:
    model = PluginModel(model=Busy(10.0), source="gaussian", reference_size=2)
    kw = dict(n=20, generations=generations, trials=trials, seed=1, metrics=[], progress=False)
    simulate(model, **{**kw, "trials": 4, "generations": 1}, executor="processes", workers=2)
    one = best_of(lambda: simulate(model, **kw, executor="processes", workers=1), 2)
    two = best_of(lambda: simulate(model, **kw, executor="processes", workers=2), 2)
    return one, two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--tiny", action="store_true", help="the smallest sizes (tests)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {platform.processor() or platform.machine()}, {cores} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    trials, gens = (5, 20) if args.tiny else (50, 200) if args.quick else (200, 500)
    per, bare = overhead(trials, gens)
    print(f"overhead: {per:.1f} us per trial-generation (target <= 20); "
          f"the bare plug-in calls alone: {bare:.1f} us  [{trials} trials x {gens} generations]")
    trials, gens = (2, 2) if args.tiny else (8, 6) if args.quick else (32, 10)
    one, two = scaling(trials, gens)
    print(f"processes: 1 worker {one:.2f} s, 2 workers {two:.2f} s, speed-up {one / two:.2f}x "
          f"(target >= 1.7)  [10 ms fit, {trials} trials x {gens} generations]")


if __name__ == "__main__":
    main()
