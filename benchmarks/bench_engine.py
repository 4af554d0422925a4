"""Engine speed: trial-generations per second of the exact path, the naive path, a per-trial
Python loop in the style of the paper's published notebook, and the raw numpy sampler.

Run:  python benchmarks/bench_engine.py [--quick | --tiny]

All numbers of one table come from one run on one machine; compare ratios, not absolute rates,
across machines (these are noisy). Uses one thread: the engine is run with workers=1.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np

from modelcollapse import simulate

#: Seconds each timing runs for (best of three); --tiny lowers it.
MIN_TIME = 0.5


def rate(func, work: float, min_time: float | None = None) -> float:
    """Best-of-three work units per second of ``func``."""
    min_time = MIN_TIME if min_time is None else min_time
    best = math.inf
    for _ in range(3):
        reps, start = 0, time.perf_counter()
        while True:
            func()
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed > min_time / 3:
                break
        best = min(best, elapsed / reps)
    return work / best


def notebook_loop_gaussian(n: int, generations: int, trials: int, seed: int) -> None:
    """The published notebook's way: per trial, per generation, draw n samples, take mean/std."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        mu, sigma = 0.0, 1.0
        for _ in range(generations):
            x = rng.normal(mu, sigma, n)
            mu, sigma = x.mean(), x.std(ddof=1)


def notebook_loop_bernoulli(n: int, generations: int, trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        p = 0.2
        for _ in range(generations):
            p = (rng.random(n) < p).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes: checks that the script runs (tests)"
    )
    args = parser.parse_args()
    if args.tiny:
        global MIN_TIME
        MIN_TIME = 0.0
    T = 1_000 if args.tiny else 20_000 if args.quick else 200_000
    G = 20
    rng = np.random.default_rng(0)
    rows = []

    def add(name, exact, naive=None, loop=None, raw=None, one=None, two=None):
        rows.append((name, exact, naive, loop, raw, one, two))

    def variants(family, params, n, metric):
        """Exact path summarising one metric, on one and on two worker threads."""
        one = rate(
            lambda: simulate(
                family, params=params, n=n, generations=G, trials=T, seed=1, metrics=[metric]
            ),
            T * G,
        )
        two = rate(
            lambda: simulate(
                family,
                params=params,
                n=n,
                generations=G,
                trials=T,
                seed=1,
                metrics=[metric],
                workers=2,
            ),
            T * G,
        )
        return one, two

    # Gaussian, n = 1000 (the 1000x target is against the per-trial loop).
    n = 1000
    ex = rate(
        lambda: simulate("gaussian", params={"sigma": 1.0}, n=n, generations=G, trials=T, seed=1),
        T * G,
    )
    nv = rate(
        lambda: simulate(
            "gaussian",
            params={"sigma": 1.0},
            n=n,
            generations=G,
            trials=T // 100,
            seed=1,
            method="naive",
        ),
        T // 100 * G,
    )
    lp = rate(lambda: notebook_loop_gaussian(n, G, 20, 1), 20 * G)
    raw = rate(lambda: (rng.standard_normal(T), rng.standard_gamma((n - 1) / 2, T)), T)
    add("gaussian n=1000", ex, nv, lp, raw, *variants("gaussian", {"sigma": 1.0}, n, "sigma_mean"))

    n = 10
    ex = rate(
        lambda: simulate("gaussian", params={"sigma": 1.0}, n=n, generations=G, trials=T, seed=1),
        T * G,
    )
    nv = rate(
        lambda: simulate(
            "gaussian", params={"sigma": 1.0}, n=n, generations=G, trials=T, seed=1, method="naive"
        ),
        T * G,
    )
    lp = rate(lambda: notebook_loop_gaussian(n, G, 200, 1), 200 * G)
    raw = rate(lambda: (rng.standard_normal(T), rng.standard_gamma((n - 1) / 2, T)), T)
    add("gaussian n=10", ex, nv, lp, raw, *variants("gaussian", {"sigma": 1.0}, n, "sigma_mean"))

    for p0, n in ((0.2, 100), (0.01, 100)):
        ex = rate(
            lambda p0=p0, n=n: simulate(
                "bernoulli", params={"p": p0}, n=n, generations=G, trials=T, seed=1
            ),
            T * G,
        )
        nv = rate(
            lambda p0=p0, n=n: simulate(
                "bernoulli",
                params={"p": p0},
                n=n,
                generations=G,
                trials=T // 10,
                seed=1,
                method="naive",
            ),
            T // 10 * G,
        )
        lp = rate(lambda n=n: notebook_loop_bernoulli(n, G, 200, 1), 200 * G)
        # The state after a few generations: the sampler sees the same spread of p values.
        pstate = rng.binomial(n, p0, T) / n
        raw = rate(lambda n=n, pstate=pstate: rng.binomial(n, pstate), T)
        add(
            f"bernoulli p0={p0} n={n}",
            ex,
            nv,
            lp,
            raw,
            *variants("bernoulli", {"p": p0}, n, "survival"),
        )

    n, lam = 100, 1.0
    ex = rate(
        lambda: simulate("poisson", params={"lambda": lam}, n=n, generations=G, trials=T, seed=1),
        T * G,
    )
    nv = rate(
        lambda: simulate(
            "poisson",
            params={"lambda": lam},
            n=n,
            generations=G,
            trials=T // 10,
            seed=1,
            method="naive",
        ),
        T // 10 * G,
    )
    lstate = rng.poisson(n * lam, T) / n
    raw = rate(lambda: rng.poisson(n * lstate), T)
    add(
        "poisson lambda0=1 n=100",
        ex,
        nv,
        None,
        raw,
        *variants("poisson", {"lambda": lam}, n, "survival"),
    )

    # Categorical: 20,000 symbols, n = 500,000 tokens; Zipf-like counts.
    m, n = 20_000, 500_000
    weights = 1.0 / (np.arange(m) + 2.7)
    counts = np.maximum(1, np.round(weights / weights.sum() * n)).astype(np.int64)
    counts[0] += n - counts.sum()
    tc = 2 if args.tiny else 8 if args.quick else 40
    ex = rate(
        lambda: simulate(
            "categorical", params={"counts": counts}, n=n, generations=3, trials=tc, seed=1
        ),
        tc * 3,
    )
    nv = rate(
        lambda: simulate(
            "categorical",
            params={"counts": counts},
            n=n,
            generations=3,
            trials=tc,
            seed=1,
            method="naive",
        ),
        tc * 3,
    )
    raw = rate(lambda: rng.multinomial(n, counts / n), 1)
    add("categorical m=20000 n=500000", ex, nv, None, raw)

    print(
        f"# modelcollapse engine benchmark ({platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}, trials={T}, generations={G}, one thread)"
    )
    print(
        "| setting | exact, all metrics (trial-gen/s) | exact, 1 metric | exact, 1 metric, "
        "2 workers | naive | per-trial loop | raw sampler | exact/naive | exact/loop | "
        "exact 1 metric/loop | 2 workers/loop | exact 1 metric/raw |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def f(x):
        return "-" if x is None else f"{x:.3g}"

    def ratio(a, b):
        return "-" if (a is None or b is None) else f"{a / b:.3g}"

    for name, ex, nv, lp, raw, one, two in rows:
        print(
            f"| {name} | {f(ex)} | {f(one)} | {f(two)} | {f(nv)} | {f(lp)} | {f(raw)} | "
            f"{ratio(ex, nv)} | {ratio(ex, lp)} | {ratio(one, lp)} | {ratio(two, lp)} | "
            f"{ratio(one, raw)} |"
        )


if __name__ == "__main__":
    main()
