"""Run until total collapse: a categorical model over K symbols, n samples per generation,
uniform start, every trial run until one symbol holds all the mass.

Run:  python benchmarks/bench_collapse.py [--quick] [--trials T] [--peer-trials P]

Ours: one ``simulate(..., until="collapse")`` call (the exact multinomial step on the live
columns, the run stopping when the last trial is absorbed). The peer is the per-trial loop of
the public Collapse-or-Thrive code (Kazdan et al. 2024, github.com/RylanSchaeffer/
KoyejoLab-Collapse-or-Thrive, ``fit_discrete_distributions`` under "Replace"), rewritten here
without its Weights & Biases logging (which would only slow it down): per trial, numpy's legacy
global generator draws n outcomes with ``choice(K, n, p)``, the proportions are refitted with
``bincount``, their entropy is computed with ``nansum``, and the loop stops when the entropy is
below 1e-8. Its job time is its time per trial times the number of trials (it is measured on
fewer trials: it is slow). Both are timed with the process CPU clock, one thread, because the
machine is shared.

The mean absorption time is compared with its exact value from the ancestral chain
(``modelcollapse.theory.collapse_time``) and with the diffusion value
-2n sum_i (1 - p_i) ln(1 - p_i).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported, for both sides

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from modelcollapse import simulate  # noqa: E402
from modelcollapse.theory.collapse_time import (  # noqa: E402
    diffusion_total_collapse_time,
    total_collapse_mean_time,
)


def peer_loop(k: int, n: int, trials: int, seed: int, cap: int = 10**7) -> list[int]:
    """Per trial: draw, refit by counting, stop on zero entropy (the Collapse-or-Thrive way)."""
    np.random.seed(seed)  # noqa: NPY002  (the peer uses the legacy global generator)
    outcomes = np.arange(k)
    times = []
    for _ in range(trials):
        proportions = np.full(k, 1.0 / k)
        data = np.random.choice(outcomes, size=n, p=proportions, replace=True)  # noqa: NPY002
        generation = 1
        while generation < cap:
            proportions = np.bincount(data, minlength=k) / n
            with np.errstate(divide="ignore", invalid="ignore"):
                entropy = -np.nansum(proportions * np.log(proportions))
            if entropy < 1e-8:
                break
            data = np.random.choice(outcomes, size=n, p=proportions)  # noqa: NPY002
            generation += 1
        times.append(generation)
    return times


def ours(k: int, n: int, trials: int, seed: int):
    return simulate(
        "categorical",
        params={"p": [1.0 / k] * k},
        n=n,
        generations=10**7,
        trials=trials,
        seed=seed,
        until="collapse",
        metrics=["time_to[total_collapse]_mean", "time_to[total_collapse]_median"],
    )


def cpu(func):
    start = time.process_time()
    out = func()
    return time.process_time() - start, out


def run(k: int, n: int, trials: int, peer_trials: int, seed: int = 1) -> dict:
    """One measurement of both sides; returns the numbers the table prints."""
    ours(8, 8, 2, seed)  # warm up: lazy imports (pandas) and caches are not the job's cost
    peer_loop(8, 8, 2, seed)
    t_ours, res = cpu(lambda: ours(k, n, trials, seed))
    t_peer, peer_times = cpu(lambda: peer_loop(k, n, peer_trials, seed))
    _, mean, se = res.metric("time_to[total_collapse]_mean")
    exact = total_collapse_mean_time(n) if k == n else math.nan
    peer_mean = float(np.mean(peer_times))
    peer_se = float(np.std(peer_times, ddof=1) / math.sqrt(len(peer_times))) if peer_trials > 1 else math.nan
    peer_job = t_peer / peer_trials * trials
    return {
        "K": k,
        "n": n,
        "trials": trials,
        "generations_run": res.config["generations_run"],
        "ours_s": t_ours,
        "peer_trials": peer_trials,
        "peer_s": t_peer,
        "peer_job_s": peer_job,
        "speedup": peer_job / t_ours,
        "mean": float(mean[-1]),
        "se": float(se[-1]),
        "peer_mean": peer_mean,
        "peer_se": peer_se,
        "exact": exact,
        "diffusion": diffusion_total_collapse_time(np.full(k, 1.0 / k), n),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--tiny", action="store_true", help="K = n = 10, a few trials")
    parser.add_argument("--symbols", type=int, default=None, help="K (= n); default 1000")
    parser.add_argument("--trials", type=int, default=None, help="our trials (default 1000)")
    parser.add_argument("--peer-trials", type=int, default=None, help="peer trials (default 20)")
    args = parser.parse_args(argv)
    k = args.symbols or (10 if args.tiny else 50 if args.quick else 1000)
    trials = args.trials or (20 if args.tiny else 200 if args.quick else 1000)
    peer_trials = args.peer_trials or (2 if args.tiny else 5 if args.quick else 20)
    r = run(k, k, trials, peer_trials)
    print(
        f"# run until total collapse ({platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}, one thread, process CPU seconds)"
    )
    print(
        "| K = n | trials | generations run | ours (s) | peer per trial (s) | peer job (s) | "
        "speed-up | mean T (ours) | mean T (peer) | exact E[T] | diffusion |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['K']} | {r['trials']} | {r['generations_run']} | {r['ours_s']:.3g} | "
        f"{r['peer_s'] / r['peer_trials']:.3g} | {r['peer_job_s']:.3g} | {r['speedup']:.3g} | "
        f"{r['mean']:.1f} +- {r['se']:.1f} | {r['peer_mean']:.0f} +- {r['peer_se']:.0f} | "
        f"{r['exact']:.2f} | {r['diffusion']:.2f} |"
    )
    return r


if __name__ == "__main__":
    main()
