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
    _alive,
    transition_matrix,
)
from modelcollapse.theory.categorical import corollary1_bounds, expected_unique, grouped_start
from modelcollapse.theory.gaussian import _cgf, _inv_digamma, divisor, sigma_tail
from modelcollapse.theory.iterated import g_k

#: Work the exact forgetting calculator may spend beyond the full-matrix range: multiply-adds
#: of the banded chain (non-zeros times generations), about 10 s on one core.
FORGET_EXACT_BUDGET = 4e9

__all__ = [
    "FORGET_EXACT_BUDGET",
    "ForgettingGeneration",
    "forgetting_generation",
    "forgetting_generation_bracket",
    "forgetting_generation_branching",
    "median_forgetting_curve",
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
    paper's "the time to forget grows linearly in the count" (k ~ 2c/log(1/q), so about 2.885 c
    for the median, for large c: from c of about 50; :func:`median_forgetting_curve` gives the
    exact ratio, 2.0 at c = 1). It is the lower-bound curve of Theorem 1, exact when
    n -> infinity.
    """
    cc = as_counts(count, "count").astype(float)
    qq = as_probability(quantile, "quantile")
    cc, qq = np.broadcast_arrays(cc, qq)
    with np.errstate(divide="ignore"):
        y = np.where(qq > 0, -np.log(np.where(qq > 0, qq, 1.0)) / np.where(cc > 0, cc, 1.0), np.inf)
    out = _first_g_below(np.where(cc > 0, y, np.inf))
    return np.where((cc == 0) | (qq == 0), 0.0, np.where(qq >= 1, np.inf, out))


class ForgettingGeneration(NamedTuple):
    """The forgetting generation with a certificate.

    ``generation`` is the answer; the exact generation lies in [``low``, ``high``]. Where
    ``exact`` is True the answer is certified by the binomial chain (``low == high ==
    generation``); elsewhere it is the approximation of :func:`forgetting_generation` and the
    interval comes from the approximation's error bound on the survival probability.
    """

    generation: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    exact: NDArray[np.bool_]


def forgetting_generation_bracket(
    count: ArrayLike,
    n: int,
    quantile: ArrayLike = 0.5,
    *,
    method: str = "auto",
    budget: float | None = None,
) -> ForgettingGeneration:
    """The generation by which a symbol seen ``count`` times in n tokens is lost with
    probability ``quantile``, smallest k with Pr(C_k = 0 | C_0 = count) >= quantile, and
    whether it is exact.

    Pr(C_k = 0) increases to 1 - c/n (fixation is possible), so the answer is inf when
    quantile > 1 - c/n. Exact ("auto", "matrix", "truncated"): the full transition matrix for
    n <= 3000; beyond, the chain started at c is run forward on the states 0..M-1 with a banded
    transition matrix, where the mass that leaves the band or the window is tracked, so that
    dead_k <= Pr(C_k = 0) <= dead_k + lost_k; a generation is accepted only when these bounds
    decide it (else M doubles), i.e. the answer is certified, not estimated. When that needs
    more than :data:`FORGET_EXACT_BUDGET` multiply-adds, "auto" falls back to the branching
    limit (c <= sqrt(n)) or Kimura's diffusion, whose survival errors are at most c/n and
    0.7/c (measured, :mod:`modelcollapse.theory.bernoulli`); [low, high] is then the range of
    generations where the approximate survival is within that error of 1 - quantile.
    ``budget`` (multiply-adds per answer) replaces :data:`FORGET_EXACT_BUDGET`: for example
    1e11 certifies n = 436,577, count 100, quantile 0.9 (1897) in about 45 s of CPU.
    """
    nn = as_sample_size(n)
    cc = as_counts(count, "count", nn)
    qq = as_probability(quantile, "quantile")
    as_choice(method, "method", ("auto", "matrix", "truncated", "diffusion", "branching"))
    work = FORGET_EXACT_BUDGET if budget is None else float(as_positive(budget, "budget"))
    cc, qq = np.broadcast_arrays(cc, qq)
    guess = forgetting_generation_branching(cc, np.minimum(qq, 1.0 - 1e-12))
    out = np.empty(cc.shape)
    low = np.empty(cc.shape)
    high = np.empty(cc.shape)
    exact = np.ones(cc.shape, dtype=bool)
    for idx in np.ndindex(cc.shape):
        c, q = int(cc[idx]), float(qq[idx])
        if c == 0 or q == 0.0:
            res = (0.0, 0.0, 0.0, True)
        elif q >= 1.0 or (method != "branching" and q >= 1.0 - c / nn - 1e-12):
            # Survival decreases to c/n from above and never reaches it.
            res = (math.inf, math.inf, math.inf, True)
        else:
            res = _forgetting_one(c, nn, q, int(guess[idx]), method, work)
        out[idx], low[idx], high[idx], exact[idx] = res
    return ForgettingGeneration(out, low, high, exact)


def forgetting_generation(
    count: ArrayLike, n: int, quantile: ArrayLike = 0.5, *, method: str = "auto"
) -> NDArray[np.float64]:
    """The generation by which a symbol seen ``count`` times in n tokens is lost with
    probability ``quantile``: smallest k with Pr(C_k = 0 | C_0 = count) >= quantile.

    Certified exact wherever :func:`forgetting_generation_bracket` says so (always for
    n <= 3000, and beyond whenever a banded chain fits the work budget, e.g. every count up to
    100 at n = 10^5); otherwise an approximation, with the error range given by
    :func:`forgetting_generation_bracket`.
    """
    return forgetting_generation_bracket(count, n, quantile, method=method).generation


def median_forgetting_curve(counts: ArrayLike, n: int) -> NDArray[np.float64]:
    """Exact median forgetting generation per unit count, k_{1/2}(c) / c, for each count.

    The linear law k ~ 2c / log 2 = 2.885 c is the branching limit for large c; at n = 10^5
    the exact ratio is 2.0, 2.5, 2.6, 2.7, 2.8, 2.84, 2.87 for c = 1, 2, 5, 10, 20, 50, 100
    (the law holds from counts of about 50 up). NaN where the median is not certified exact.
    """
    cc = as_counts(counts, "counts", as_sample_size(n)).astype(np.int64)
    res = forgetting_generation_bracket(cc, n, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = res.generation / cc
    return np.where(res.exact & (cc > 0), ratio, np.nan)


def _chain_crossing(c: int, n: int, q: float, size: int, max_steps: int) -> float | None:
    """First k with Pr(C_k > 0 | c) <= 1 - q by iterating the full chain (size = n + 1)."""
    T = transition_matrix(n, size)
    low = (np.arange(size) > 0).astype(float)
    for k in range(1, max_steps + 1):
        low = T @ low
        if low[c] <= 1.0 - q:
            return float(k)
    return None


#: Row i of the banded chain keeps the states within _BAND_SDS standard deviations + _BAND_PAD
#: of i: beyond, a binomial row has mass below 1e-13, and what is dropped is counted as lost.
_BAND_SDS = 8.0
_BAND_PAD = 20.0


def _band(i: NDArray[np.float64] | float, n: int) -> NDArray[np.int64]:
    return np.ceil(_BAND_SDS * np.sqrt(i * (1.0 - i / n)) + _BAND_PAD).astype(np.int64)


def _banded_forward(n: int, size: int) -> tuple[object, NDArray, NDArray, int]:
    """The chain on the states 1..size-1 as a sparse matrix acting on distributions.

    Row i of the transition matrix is Binomial(n, i/n), kept within the band of :func:`_band`.
    Returns (A, to_zero, leak, nnz): p_next = A p on 1..size-1 (A[to, from]), to_zero[i] =
    T[i, 0], leak[i] = the mass of row i outside the kept entries (band or window).
    """
    from scipy import sparse, stats

    i = np.arange(1, size)
    w = _band(i.astype(float), n)
    lo = np.maximum(i - w, 0)
    hi = np.minimum(i + w, size - 1)
    lens = hi - lo + 1
    frm = np.repeat(i, lens)
    offset = np.repeat(lo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    to = np.arange(int(lens.sum())) + offset
    vals = stats.binom.pmf(to, n, frm / n)
    to_zero = np.zeros(size)
    np.add.at(to_zero, frm[to == 0], vals[to == 0])
    kept = np.zeros(size)
    np.add.at(kept, frm, vals)
    leak = np.clip(1.0 - kept, 0.0, None)
    leak[0] = 0.0
    inner = to > 0
    A = sparse.csr_matrix((vals[inner], (to[inner], frm[inner])), shape=(size, size))
    return A, to_zero, leak, int(vals.size)


def _nnz_estimate(size: float, n: int) -> float:
    """Non-zeros of the banded matrix on states < size: sum_i (2 w_i + 1)."""
    return 2.0 * _BAND_SDS * (2.0 / 3.0) * size**1.5 + (2.0 * _BAND_PAD + 3.0) * size


def _banded_crossing(
    c: int, n: int, q: float, guess: int, budget: float
) -> tuple[float, float, float, bool] | None:
    """Certified first k with Pr(C_k = 0 | c) >= q from the forward banded chain, or None
    when the budget does not allow it.

    The distribution of C_j starts at c and spreads by at most one band per generation, so each
    block of generations multiplies only the rows that can hold mass (a prefix of the states).
    """
    horizon = 1.25 * guess + 20.0
    margin = 1.0  # states beyond c + 10 sd per generation of horizon; doubled if undecided
    block = 32
    while True:
        size = int(c + 10.0 * math.sqrt((c + 1.0) * horizon) + margin * horizon + 50.0)
        size = min(size, n + 1)
        # Refuse before building what the budget cannot run: building costs about 50 steps of
        # the full matrix (a pmf evaluation per entry), then the prefixes grow with j.
        js = np.linspace(0.0, horizon, 64)
        tops = np.minimum(size, c + 10.0 * np.sqrt((c + 1.0) * js) + 2.0 * js + 50.0)
        work = 50.0 * _nnz_estimate(size, n) + horizon * float(
            np.mean([_nnz_estimate(t, n) for t in tops])
        )
        if work > budget:
            return None
        A, to_zero, leak, _ = _banded_forward(n, size)
        if size == n + 1:
            leak[:] = 0.0  # the whole chain: nothing can leave (state n is kept, alive)
        p = np.zeros(size)
        p[c] = 1.0
        top = c  # no mass above this state
        dead = lost = 0.0
        k = 0
        spent = 0.0
        decided = None
        undecided = False
        while spent <= budget and decided is None and not undecided:
            reach = top
            for _ in range(block):
                reach = min(size - 1, reach + int(_band(float(reach), n)))
            sub = A[: reach + 1]
            sub_zero, sub_leak = to_zero[: reach + 1], leak[: reach + 1]
            for _ in range(block):
                k += 1
                dead += float(p[: reach + 1] @ sub_zero)
                lost += float(p[: reach + 1] @ sub_leak)
                nxt = sub @ p
                p[: reach + 1] = nxt
                spent += sub.nnz
                if dead >= q:
                    decided = float(k)  # certainly crossed at k, and not before (checked below)
                    break
                if dead + lost >= q:
                    undecided = True  # a wider window is needed
                    break
            top = reach
        if decided is not None:
            return decided, decided, decided, True
        if size == n + 1 or spent > budget:
            return None
        margin *= 2.0
        horizon = max(horizon, 1.25 * k + 20.0)


def _forgetting_one(
    c: int, n: int, q: float, guess: int, method: str, budget: float
) -> tuple[float, float, float, bool]:
    if method in ("auto", "matrix", "truncated"):
        res = None
        if n <= MATRIX_MAX_N and method != "truncated":
            # Every step costs (n+1)^2: budget about 2e10 multiply-adds.
            steps = 10**7 if method == "matrix" else max(1, int(2e10 / (n + 1) ** 2))
            k = _chain_crossing(c, n, q, n + 1, steps)
            res = None if k is None else (k, k, k, True)
        else:
            res = _banded_crossing(c, n, q, guess, budget)
        if res is not None:
            return res
        if method != "auto":
            raise ConfigError("method", method, "too costly here; use 'diffusion' or 'branching'")
        method = "diffusion" if c > math.sqrt(n) else "branching"
    # Approximations, with the measured bound on their survival error (bernoulli module).
    err = c / n if method == "branching" else 0.7 / c
    first = _first_crossing(c, n, q, guess, method, 0.0)
    lo = _first_crossing(c, n, q, guess, method, -err)
    hi = _first_crossing(c, n, q, guess, method, err)
    return first, lo, hi, False


def _first_crossing(c: int, n: int, q: float, guess: int, method: str, shift: float) -> float:
    """First k with (approximate survival + shift) <= 1 - q, on growing windows."""
    lo, span = 0, max(16, guess)
    while lo < 1e9:
        ks = np.arange(lo, lo + span + 1)
        alive = _alive(n, np.full(ks.shape, float(c)), ks, method) + shift
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
