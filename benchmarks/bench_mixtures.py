"""Benchmark: batched mixture fits against one scikit-learn fit per trial.

Published recursive-training code fits one ``sklearn.mixture.GaussianMixture`` per trial and
generation. This script times, for the same data:

1. ``mixture2``: the batched joint-ML solver (and Algorithm 1) on 10,000 trials of n = 10,
   against a loop of ``GaussianMixture(2)`` fits.
2. ``gmm``: the batched EM of ``modelcollapse.families.em`` on 1,000 trials of n = 1000, K = 2,
   d = 1, against a loop of ``GaussianMixture(2)`` fits (k-means initialisation in both, the
   scikit-learn default; max_iter = 100, tol = 1e-3).

The scikit-learn loop is timed on a subset of the trials (``--sk-trials``) and scaled linearly
to the full count, which is exact for a loop of independent fits up to timing noise.

Usage::

    python benchmarks/bench_mixtures.py [--repeat 3] [--sk-trials 500] [--tiny]

BLAS and OpenMP run on one thread (BENCH_THREADS=N to change, for both sides).

Needs scikit-learn (``pip install 'modelcollapse[sklearn]'``).
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread for both sides, set before numpy (and scikit-learn) load their BLAS:
# the batched EM and the scikit-learn loop then use the same single core. Earlier runs without
# this let BLAS spread over both cores (and over the machine's other work), which is not a fair
# one-core comparison. BENCH_THREADS=N changes it for both.
_THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _THREADS

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from modelcollapse.families.em import fit_gmm  # noqa: E402
from modelcollapse.families.mixture_estimators import approx_ml, joint_ml  # noqa: E402


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _sk_loop(x: np.ndarray, k: int) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i in range(x.shape[0]):
            GaussianMixture(k, max_iter=100, tol=1e-3, random_state=i).fit(x[i])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--sk-trials", type=int, default=500, help="trials timed for sklearn")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes: checks that the script runs (tests)"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    scale = 100 if args.tiny else 1

    # 1. mixture2, 10,000 trials of n = 10
    trials, n = 10_000 // scale, 10
    y = rng.choice([-1.0, 1.0], size=(trials, n)) + rng.standard_normal((trials, n))
    t_joint = _best(lambda: joint_ml(y), args.repeat)
    t_approx = _best(lambda: approx_ml(y), args.repeat)
    sub = min(args.sk_trials, trials)
    t_sk = _best(lambda: _sk_loop(y[:sub, :, None], 2), 1) * trials / sub
    rows.append(("mixture2 joint-ML, 10,000 x n=10", t_joint, t_sk))
    rows.append(("mixture2 approx-ML, 10,000 x n=10", t_approx, t_sk))

    # 2. EM, 1,000 trials of n = 1000, K = 2, d = 1
    trials, n = 1000 // scale, 1000 // (10 if args.tiny else 1)
    labels = rng.random((trials, n)) < 0.5
    x = np.where(labels, -2.0, 2.0) + rng.standard_normal((trials, n))
    t_em = _best(lambda: fit_gmm(x, 2, np.random.default_rng(1)), args.repeat)
    sub = min(args.sk_trials // 5, trials)
    t_sk = _best(lambda: _sk_loop(x[:sub, :, None], 2), 1) * trials / sub
    rows.append(("EM K=2 d=1, 1,000 x n=1000", t_em, t_sk))

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"{platform.processor() or platform.platform()}; numpy {np.__version__}; "
        f"BLAS/OpenMP threads: {_THREADS} (BENCH_THREADS)"
    )
    print(
        f"{'fit (all trials, one generation)':40s} {'batched s':>10s} {'sklearn s':>10s} "
        f"{'speed-up':>9s}"
    )
    for name, ours, sk in rows:
        print(f"{name:40s} {ours:10.3f} {sk:10.2f} {sk / ours:8.0f}x")
    print("(sklearn: one GaussianMixture(2).fit per trial, timed on a subset and scaled)")


if __name__ == "__main__":
    main()
