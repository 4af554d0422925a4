"""Engine speed: trial-generations per second of the exact path (the family's default metrics,
and one metric), the naive path, a per-trial Python loop in the style of the paper's published
notebook, and numpy's raw sampler; and one worker against two.

Run:  python benchmarks/bench_engine.py [--quick]

Everything is measured in one run, one thread for BLAS (``OMP_NUM_THREADS=1`` is set before
numpy is imported, for ours and the peers alike). Single-thread rates use the process CPU clock
(best of three), because the development machine is shared and wall time there measures the
other jobs as much as ours; the worker comparison has to use wall time.

- *raw sampler*: numpy drawing exactly the variates the exact step needs, nothing else (the
  Gaussian: a standard normal and a Gamma((n-1)/2) per trial; Bernoulli: numpy's binomial for
  the same law, which our lattice sampler beats; Poisson: numpy's Poisson).
- *notebook loop*: the Figure 2(a) cell of the paper's notebook (github.com/berserank/
  rate-of-model-collapse, ``simulations.ipynb``), as it is written: per trial and generation,
  ``np.random.normal(mu, sigma, n)`` from numpy's legacy global generator through a helper, then
  ``np.mean`` and ``np.std(ddof=1)``, appending both to per-trial lists (its tqdm progress bar
  left out); the Bernoulli loop is the same with ``np.random.binomial(1, p, n)``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from modelcollapse import simulate  # noqa: E402

#: Seconds each timing try repeats its function for (0 in a --tiny run: one call per try).
MIN_TIME = 0.3


def rate(func, work: float, *, clock=time.process_time, min_time: float | None = None) -> float:
    """Best-of-three work units per second of ``func`` (each try repeats it for ``min_time``)."""
    min_time = MIN_TIME if min_time is None else min_time
    best = math.inf
    for _ in range(3):
        reps, start = 0, clock()
        while True:
            func()
            reps += 1
            elapsed = clock() - start
            if elapsed > min_time:
                break
        best = min(best, elapsed / reps)
    return work / best


def _normal_samples(mu: float, sigma: float, n: int) -> np.ndarray:
    return np.random.normal(mu, sigma, n)  # noqa: NPY002  (the notebook's legacy generator)


def _ml_estimate(samples: np.ndarray) -> tuple[float, float]:
    return np.mean(samples), np.std(samples, ddof=1)


def notebook_loop_gaussian(n: int, generations: int, trials: int, seed: int) -> None:
    """The paper's notebook loop for the Gaussian (Figure 2(a) cell), without its progress bar."""
    np.random.seed(seed)  # noqa: NPY002
    means, stds = [], []
    for _ in range(trials):
        mu, sigma = 0.0, 1.0
        mean_arr, std_arr = [], []
        for _ in range(generations):
            mu, sigma = _ml_estimate(_normal_samples(mu, sigma, n))
            mean_arr.append(mu)
            std_arr.append(sigma)
        means.append(mean_arr)
        stds.append(std_arr)


def notebook_loop_bernoulli(n: int, generations: int, trials: int, seed: int, p0: float) -> None:
    """The same loop for the Bernoulli model: n coin flips, p = their mean."""
    np.random.seed(seed)  # noqa: NPY002
    paths = []
    for _ in range(trials):
        p, path = p0, []
        for _ in range(generations):
            p = np.mean(np.random.binomial(1, p, n))  # noqa: NPY002
            path.append(p)
        paths.append(path)


def _sim(family, params, n, G, T, **kw):
    return lambda: simulate(family, params=params, n=n, generations=G, trials=T, seed=1, **kw)


def engine_rows(T: int, G: int, quick: bool) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    loop_trials = 4 if quick else 20

    def row(name, family, params, n, metric, raw, loop=None, loop_work=None, naive_T=None,
            raw_one=None):
        out = {"setting": name}
        out["raw"] = rate(lambda: [raw() for _ in range(G)], T * G)
        # The draws the one-metric run needs, when fewer than the default set's (the Gaussian
        # reading only Sigma_k draws only the Gamma variate: families/gaussian.py, scale only).
        out["raw_one"] = (
            out["raw"] if raw_one is None else rate(lambda: [raw_one() for _ in range(G)], T * G)
        )
        out["default"] = rate(_sim(family, params, n, G, T), T * G)
        out["one"] = rate(_sim(family, params, n, G, T, metrics=[metric]), T * G)
        out["metric"] = metric
        nT = naive_T or T
        out["naive"] = rate(_sim(family, params, n, G, nT, method="naive", metrics=[metric]), nT * G)
        out["loop"] = rate(loop, loop_work) if loop is not None else None
        rows.append(out)

    for n, lt in ((1000, loop_trials), (10, 10 * loop_trials)):
        row(
            f"gaussian n={n}",
            "gaussian",
            {"sigma": 1.0},
            n,
            "sigma_mean",
            lambda n=n: (rng.standard_normal(T), rng.standard_gamma(0.5 * (n - 1), T)),
            loop=lambda n=n, lt=lt: notebook_loop_gaussian(n, G, lt, 1),
            loop_work=lt * G,
            naive_T=max(1, T // 100) if n == 1000 else T,
            raw_one=lambda n=n: rng.standard_gamma(0.5 * (n - 1), T),
        )
    for p0 in (0.2, 0.01):
        n = 100
        # The state after a few generations: the sampler sees the same spread of p values.
        pstate = rng.binomial(n, p0, T) / n
        row(
            f"bernoulli p0={p0} n={n}",
            "bernoulli",
            {"p": p0},
            n,
            "survival",
            lambda pstate=pstate, n=n: rng.binomial(n, pstate),
            loop=lambda p0=p0, n=n: notebook_loop_bernoulli(n, G, 10 * loop_trials, 1, p0),
            loop_work=10 * loop_trials * G,
            naive_T=max(1, T // 10),
        )
    n = 100
    lstate = rng.poisson(n, T) / n
    row(
        "poisson lambda0=1 n=100",
        "poisson",
        {"lambda": 1.0},
        n,
        "survival",
        lambda: rng.poisson(n * lstate),
        naive_T=max(1, T // 10),
    )
    return rows


def categorical_row(quick: bool, tiny: bool = False) -> dict:
    # 20,000 symbols, n = 500,000 tokens, Zipf-like counts: exact (multinomial) against naive.
    rng = np.random.default_rng(0)
    m, n = (200, 5_000) if tiny else (2_000, 50_000) if quick else (20_000, 500_000)
    weights = 1.0 / (np.arange(m) + 2.7)
    counts = np.maximum(1, np.round(weights / weights.sum() * n)).astype(np.int64)
    counts[0] += n - counts.sum()
    tc = 4 if quick else 40
    params = {"counts": counts}
    return {
        "setting": f"categorical m={m} n={n}",
        "default": rate(_sim("categorical", params, n, 3, tc), tc * 3),
        "naive": rate(_sim("categorical", params, n, 3, tc, method="naive"), tc * 3),
        "raw": rate(lambda: rng.multinomial(n, counts / n), 1),
    }


def worker_rows(T: int, G: int) -> list[dict]:
    """One worker against two threads and two processes, wall time, best of three, results
    checked identical. The process pool (loky) is reused between calls: the timed calls
    after the first find its workers started."""
    cases = [
        ("gaussian n=1000", "gaussian", {"sigma": 1.0}, 1000, "sigma_mean"),
        ("bernoulli p0=0.2 n=100", "bernoulli", {"p": 0.2}, 100, "survival"),
        ("poisson lambda0=1 n=100", "poisson", {"lambda": 1.0}, 100, "survival"),
    ]
    out = []
    for name, family, params, n, metric in cases:
        one = _sim(family, params, n, G, T, metrics=[metric], workers=1)
        two = _sim(family, params, n, G, T, metrics=[metric], workers=2)
        procs = _sim(family, params, n, G, T, metrics=[metric], workers=2, executor="processes")
        ref = one().summary
        same = ref.equals(two().summary) and ref.equals(procs().summary)
        r1 = rate(one, T * G, clock=time.perf_counter, min_time=0.0)
        r2 = rate(two, T * G, clock=time.perf_counter, min_time=0.0)
        rp = rate(procs, T * G, clock=time.perf_counter, min_time=0.0)
        out.append({"setting": name, "one": r1, "two": r2, "procs": rp, "identical": same})
    return out


def _f(x) -> str:
    return "-" if x is None else f"{x:.3g}"


def _r(a, b) -> str:
    return "-" if a is None or b is None else f"{a / b:.3g}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, one call per timing")
    parser.add_argument("--trials", type=int, default=None, help="trials per engine run")
    parser.add_argument("--worker-trials", type=int, default=None, help="trials, worker runs")
    args = parser.parse_args(argv)
    global MIN_TIME
    if args.tiny:
        args.quick, MIN_TIME = True, 0.0
    T = args.trials or (2_000 if args.tiny else 20_000 if args.quick else 200_000)
    G = 2 if args.tiny else 5 if args.quick else 20
    WT = args.worker_trials or (4_000 if args.tiny else 40_000 if args.quick else 1_000_000)
    rows = engine_rows(T, G, args.quick)
    cat = categorical_row(args.quick, args.tiny)
    # Two horizons: a 10-generation run of 10^6 trials is a fraction of a second, where starting
    # and feeding workers weighs; at 50 generations the work dominates.
    horizons = (2,) if args.tiny else (10, 50)
    workers = [dict(w, generations=g) for g in horizons for w in worker_rows(WT, g)]

    print(
        f"# modelcollapse engine benchmark ({platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}, trials={T}, generations={G}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}, process CPU time)"
    )
    print(
        "| setting | raw sampler (trial-gen/s) | raw, 1 metric's draws | exact, default metrics | "
        "exact, 1 metric | naive | notebook loop | default / raw | 1 metric / its raw | "
        "1 metric / loop | exact / naive |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setting']} | {_f(r['raw'])} | {_f(r['raw_one'])} | {_f(r['default'])} | "
            f"{_f(r['one'])} | {_f(r['naive'])} | {_f(r['loop'])} | "
            f"{_r(r['default'], r['raw'])} | {_r(r['one'], r['raw_one'])} | "
            f"{_r(r['one'], r['loop'])} | {_r(r['one'], r['naive'])} |"
        )
    print(
        f"| {cat['setting']} | {_f(cat['raw'])} | - | {_f(cat['default'])} | - | "
        f"{_f(cat['naive'])} | - | {_r(cat['default'], cat['raw'])} | - | - | "
        f"{_r(cat['default'], cat['naive'])} |"
    )
    print()
    print(f"# one worker against two ({WT} trials, one metric, wall time)")
    print(
        "| setting | generations | 1 worker (trial-gen/s) | 2 threads | 2 processes | "
        "threads / 1 | processes / 1 | identical summaries |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for w in workers:
        print(
            f"| {w['setting']} | {w['generations']} | {_f(w['one'])} | {_f(w['two'])} | "
            f"{_f(w['procs'])} | "
            f"{_r(w['two'], w['one'])} | {_r(w['procs'], w['one'])} | "
            f"{'yes' if w['identical'] else 'NO'} |"
        )
    return {"engine": rows, "categorical": cat, "workers": workers}


if __name__ == "__main__":
    main()
