"""Calculators for the practical questions: when is a symbol forgotten, when has a Gaussian
collapsed, how much of a corpus's vocabulary is left."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.errors import ConfigError
from modelcollapse.theory._validate import (
    as_choice,
    as_counts,
    as_generations,
    as_positive,
    as_probability,
    as_sample_size,
)
from modelcollapse.theory.bernoulli import (
    MATRIX_MAX_N,
    TRUNCATED_MAX_STATES,
    _alive,
    _truncation_size,
    transition_matrix,
)
from modelcollapse.theory.categorical import corollary1_bounds, expected_unique, grouped_start
from modelcollapse.theory.gaussian import _cgf, _inv_digamma, divisor, sigma_tail
from modelcollapse.theory.iterated import g_k

__all__ = [
    "forgetting_generation",
    "forgetting_generation_branching",
    "gaussian_collapse_generation",
    "VocabularyLeft",
    "vocabulary_left",
]


def _first_g_below(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smallest k >= 1 with g_k <= y (inf where y <= 0), by bisection on 1/k <= g_k <= 3/k."""
    out = np.full(y.shape, np.inf)
    ok = y > 0
    big = y >= 1.0
    out[ok & big] = 1.0
    todo = ok & ~big
    if np.any(todo):
        yy = y[todo]
        lo = np.maximum(np.floor(1.0 / yy) - 1, 1).astype(np.int64)  # g_lo > y
        hi = np.ceil(3.0 / yy).astype(np.int64) + 1  # g_hi <= y
        while np.any(hi - lo > 1):
            mid = (lo + hi) // 2
            below = g_k(mid) <= yy
            hi = np.where(below, mid, hi)
            lo = np.where(below, lo, mid)
        out[todo] = np.where(g_k(lo) <= yy, lo, hi)
    return out


def forgetting_generation_branching(count: ArrayLike, quantile: ArrayLike = 0.5) -> NDArray:
    """The generation by which a symbol of count c is lost with probability q, branching limit.

    Smallest k with exp(-c g_k) >= q, i.e. g_k <= log(1/q)/c: the closed form behind the
    paper's "the time to forget grows linearly in the count" (k ~ 2c/log(1/q), so about 2.9 c
    for the median). It is the lower-bound curve of Theorem 1, exact when n -> infinity.
    """
    cc = as_counts(count, "count").astype(float)
    qq = as_probability(quantile, "quantile")
    cc, qq = np.broadcast_arrays(cc, qq)
    with np.errstate(divide="ignore"):
        y = np.where(qq > 0, -np.log(np.where(qq > 0, qq, 1.0)) / np.where(cc > 0, cc, 1.0), np.inf)
    out = _first_g_below(np.where(cc > 0, y, np.inf))
    return np.where((cc == 0) | (qq == 0), 0.0, np.where(qq >= 1, np.inf, out))


def forgetting_generation(
    count: ArrayLike, n: int, quantile: ArrayLike = 0.5, *, method: str = "auto"
) -> NDArray[np.float64]:
    """The generation by which a symbol seen ``count`` times in n tokens is lost with
    probability ``quantile``: smallest k with Pr(C_k = 0 | C_0 = count) >= quantile.

    Pr(C_k = 0) increases to 1 - c/n (fixation is possible), so the answer is inf when
    quantile > 1 - c/n. Computed from the binomial chain (:func:`bernoulli_survival` methods):
    exact where the chain is affordable, otherwise the branching limit for c <= sqrt(n) and
    Kimura's diffusion beyond.
    """
    nn = as_sample_size(n)
    cc = as_counts(count, "count", nn)
    qq = as_probability(quantile, "quantile")
    as_choice(method, "method", ("auto", "matrix", "truncated", "diffusion", "branching"))
    cc, qq = np.broadcast_arrays(cc, qq)
    guess = forgetting_generation_branching(cc, np.minimum(qq, 1.0 - 1e-12))
    out = np.empty(cc.shape)
    for idx in np.ndindex(cc.shape):
        c, q = int(cc[idx]), float(qq[idx])
        if c == 0 or q == 0.0:
            out[idx] = 0.0
        elif q >= 1.0 or (method != "branching" and q >= 1.0 - c / nn - 1e-12):
            # Survival decreases to c/n from above and never reaches it.
            out[idx] = np.inf
        elif method == "branching":
            out[idx] = guess[idx]
        else:
            out[idx] = _forgetting_one(c, nn, q, int(guess[idx]), method)
    return out


def _chain_crossing(c: int, n: int, q: float, size: int, max_steps: int) -> float | None:
    """First k with Pr(C_k > 0 | c) <= 1 - q by iterating the (truncated) chain; None if the
    truncation error could decide the answer or max_steps is reached."""
    T = transition_matrix(n, size)
    leak = np.clip(1.0 - T.sum(axis=1), 0.0, None) if size < n + 1 else None
    low = (np.arange(size) > 0).astype(float)
    up = low.copy()
    for k in range(1, max_steps + 1):
        low = T @ low
        up = low if leak is None else T @ up + leak
        if up[c] - low[c] > 1e-9:
            return None
        if 0.5 * (up[c] + low[c]) <= 1.0 - q:
            return float(k)
    return None


def _forgetting_one(c: int, n: int, q: float, guess: int, method: str) -> float:
    if method in ("auto", "matrix", "truncated"):
        if n <= MATRIX_MAX_N and method != "truncated":
            # Every step costs (n+1)^2: budget about 2e10 multiply-adds.
            steps = 10**7 if method == "matrix" else max(1, int(2e10 / (n + 1) ** 2))
            res = _chain_crossing(c, n, q, n + 1, steps)
        else:
            steps = 4 * guess + 50
            size = min(n + 1, _truncation_size(float(c), steps))
            res = None if size > TRUNCATED_MAX_STATES else _chain_crossing(c, n, q, size, steps)
        if res is not None or method != "auto":
            if res is None:
                raise ConfigError(
                    "method", method, "too costly here; use 'diffusion' or 'branching'"
                )
            return res
        method = "diffusion" if c > math.sqrt(n) else "branching"
    # Approximations: survival evaluated on growing windows of generations.
    lo, span = max(guess - 1, 0), max(16, guess)
    while lo < 1e9:
        ks = np.arange(lo, lo + span + 1)
        alive = _alive(n, np.full(ks.shape, float(c)), ks, method)
        hit = np.nonzero(alive <= 1.0 - q)[0]
        if hit.size:
            return float(ks[hit[0]])
        lo, span = lo + span, 2 * span
    return math.inf


def gaussian_collapse_generation(
    eps: float, delta: float, sigma0: float, n: int, estimator: str = "unbiased"
) -> int:
    """The first generation k from which Pr(Sigma_j > eps) < delta for every j >= k (exact).

    A Chernoff bound with the s that minimises M(s) = E[(chi2_{n-1}/d)^s] decreases in k and
    caps the search; the exact tail (:func:`sigma_tail`) is evaluated on a geometric grid up to
    that cap and then on every generation of the last bracket (the tail decreases there).
    """
    e = float(as_positive(eps, "eps"))
    dl = float(as_probability(delta, "delta"))
    if dl <= 0.0:
        raise ConfigError("delta", delta, "a probability in (0, 1]")
    s0 = float(as_positive(sigma0, "sigma0"))
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    a = (nn - 1) / 2.0
    s_min = float(_inv_digamma(np.array(math.log(d / 2.0)))) - a
    log_m = float(_cgf(np.array(s_min), a, d))  # < 0: the drift of log Sigma^2 is negative
    cap = max(1, math.ceil((math.log(dl) - 2 * s_min * math.log(s0 / e)) / log_m) + 1)
    grid = np.unique(np.concatenate([[0], np.geomspace(1, cap, 400).astype(np.int64), [cap]]))
    tail = sigma_tail(e, s0, nn, grid, estimator)
    above = np.nonzero(tail >= dl)[0]
    if above.size == 0:
        return 0
    last = int(above[-1])
    if last + 1 >= grid.size:
        return int(cap)
    ks = np.arange(grid[last], grid[last + 1] + 1)
    tail = sigma_tail(e, s0, nn, ks, estimator)
    return int(ks[np.nonzero(tail >= dl)[0][-1]] + 1)


class VocabularyLeft(NamedTuple):
    """Expected fraction of the vocabulary present after k generations (exact and Corollary 1)."""

    generation: NDArray[np.int64]
    exact: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


def vocabulary_left(counts: ArrayLike, k: ArrayLike, n: int | None = None) -> VocabularyLeft:
    """E[uniq_k]/m for a corpus given by its symbol ``counts``, with Corollary 1's bounds.

    n defaults to the corpus size (each generation generates as many tokens as the corpus has).
    """
    kk = as_generations(k)
    _, mult, _ = grouped_start(counts=counts, n=n)
    m = float(mult.sum())
    b = corollary1_bounds(kk, counts=counts, n=n)
    ex = expected_unique(kk, counts=counts, n=n)
    return VocabularyLeft(kk, ex / m, b.lower / m, b.upper / m)
