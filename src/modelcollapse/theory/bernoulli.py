"""Bernoulli recursive training: Theorem 1, its two-sided extension, Seddik et al., and the
exact binomial chain (neutral Wright-Fisher model).

With P_0 = p0 and P_k = S_k / n, S_k ~ Binomial(n, P_{k-1}), the count C_k = n P_k is the
neutral haploid Wright-Fisher chain with population size n (Fisher 1930, Wright 1931): a
martingale absorbed at 0 (loss) and n (fixation). Everything in this module is a function of
the (n+1) x (n+1) transition matrix T[i, j] = Binom(j; n, i/n), computed without Monte Carlo:

* survival Pr(C_k > 0), and Pr(0 < C_k < n), by iterating s_k = T s_{k-1} (backward equation);
  starting from indicator vectors keeps full relative accuracy for small probabilities,
* fixation probability c/n (optional stopping of the martingale C_k),
* mean absorption times from the fundamental matrix N = (I - Q)^{-1} (Kemeny and Snell 1960),
  conditioned on loss or fixation by Doob's h-transform,
* for n too large for the matrix: a truncated chain on the states 0..M that brackets the answer
  with a computed error (exact to 1e-12 when it applies), Kimura's (1955) diffusion series,
  Kimura and Ohta's (1969) absorption times, or the Poisson branching limit.

Accuracy of the approximations, measured against the exact matrix for n = 1000, 2000, 3000,
c <= 500 and k <= 4n (``tests/theory/test_theory_bernoulli.py`` re-measures n = 2000):

* Poisson branching, 1 - exp(-c g_k) (Theorem 1's lower bound): absolute error about
  0.56 c/n, and at most c/n for any k (the branching limit ignores fixation);
* Kimura's diffusion series: absolute error below 0.7/c (0.23 for c = 1, 0.025 for c = 20,
  0.006 for c = 100), i.e. good for large counts, poor for a few copies.

So beyond the exact methods, "auto" takes the branching value for c <= sqrt(n) and the
diffusion beyond: absolute error below 0.7/sqrt(n) (0.001 for n = 436,577).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.errors import ConfigError
from modelcollapse.theory._common import Bounds, exp_neg
from modelcollapse.theory._validate import (
    as_choice,
    as_counts,
    as_generations,
    as_probability,
    as_sample_size,
)
from modelcollapse.theory.iterated import g_k

__all__ = [
    "MATRIX_MAX_N",
    "TRUNCATED_MAX_STATES",
    "AbsorptionTimes",
    "theorem1_bounds",
    "theorem1_extension_bounds",
    "seddik_bounds",
    "transition_matrix",
    "binomial_chain_survival",
    "binomial_chain_segregating",
    "bernoulli_survival",
    "bernoulli_segregating",
    "fixation_probability",
    "absorption_times",
    "diffusion_survival",
    "diffusion_absorption_times",
]

#: Largest n for which method="auto" builds the full (n+1) x (n+1) transition matrix.
MATRIX_MAX_N = 3000
#: Largest number of states the truncated chain may use before "auto" gives up on exactness.
TRUNCATED_MAX_STATES = 4000
#: Error the truncated chain must certify (absolute, on each probability).
TRUNCATION_TOL = 1e-12
#: e^{-40} ~ 4e-18: a start whose Theorem-1 lower bound is within this of 1 needs no chain.
_SURE = 40.0

_METHODS = ("auto", "matrix", "truncated", "diffusion", "branching")


# --------------------------------------------------------------------------------------------
# The paper's bounds
# --------------------------------------------------------------------------------------------


def _binom():
    """scipy.stats.binom, imported on first use: importing scipy.stats takes about a second,
    which every command importing the theory package (``forget``, for its exact columns) paid."""
    from scipy import stats

    return stats.binom


def theorem1_bounds(p0: ArrayLike, n: int, k: ArrayLike) -> Bounds:
    """Bounds on Pr(P_k != 0) for Bernoulli recursive training (Suresh et al. 2025, Theorem 1).

        1 - exp(-n p0 g_k) <= Pr(P_k != 0) <= 1 - max(0, 1 - 3 n p0^2 - 3 k p0) exp(-n p0 g_k)

    The lower bound is the survival of the Poisson branching process that the binomial chain
    approaches when p0 -> 0 with n p0 fixed.

    Parameters
    ----------
    p0 : array_like
        Initial probability of the symbol, in [0, 1].
    n : int
        Samples per generation, >= 1.
    k : array_like of int
        Generations >= 0 (broadcast against ``p0``).
    """
    p = as_probability(p0, "p0")
    nn = as_sample_size(n)
    kk = as_generations(k)
    p, kk = np.broadcast_arrays(p, kk)
    e = exp_neg(nn * p, g_k(kk))
    slack = np.maximum(0.0, 1.0 - 3.0 * nn * p**2 - 3.0 * kk * p)
    return Bounds(1.0 - e, 1.0 - slack * e)


def theorem1_extension_bounds(p0: ArrayLike, n: int, k: ArrayLike) -> Bounds:
    """Bounds on Pr(P_k not in {0, 1}) (Suresh et al. 2025, extension of Theorem 1).

    Theorem 1 applied to the symbol and to its complement (probability 1 - p0):

        1 - [e^{-n p0 g_k} + e^{-n (1-p0) g_k}] <= Pr(P_k not in {0,1})
          <= 1 - [m(p0) e^{-n p0 g_k} + m(1-p0) e^{-n (1-p0) g_k}],
        m(p) = max(0, 1 - 3 n p^2 - 3 k p).

    The lower bound is clipped at 0.
    """
    p = as_probability(p0, "p0")
    nn = as_sample_size(n)
    kk = as_generations(k)
    p, kk = np.broadcast_arrays(p, kk)
    gk = g_k(kk)
    e0, e1 = exp_neg(nn * p, gk), exp_neg(nn * (1.0 - p), gk)
    m0 = np.maximum(0.0, 1.0 - 3.0 * nn * p**2 - 3.0 * kk * p)
    m1 = np.maximum(0.0, 1.0 - 3.0 * nn * (1.0 - p) ** 2 - 3.0 * kk * (1.0 - p))
    return Bounds(np.maximum(0.0, 1.0 - e0 - e1), 1.0 - m0 * e0 - m1 * e1)


def seddik_bounds(p0: ArrayLike, n: int, k: ArrayLike) -> Bounds:
    """Bounds on Pr(P_k not in {0, 1}) of Seddik et al. (2024), as compared in Suresh et al.

        4 p0 (1-p0) (1-1/n)^k <= Pr(P_k not in {0,1}) <= min(1, 2 n p0 (1-p0) (1-1/n)^k)

    Both follow from the exact decay of the expected heterozygosity E[2 P_k (1-P_k)] =
    2 p0 (1-p0) (1-1/n)^k, because 2/n <= 2P(1-P) <= 1/2 whenever P is not in {0, 1}.
    """
    p = as_probability(p0, "p0")
    nn = as_sample_size(n)
    kk = as_generations(k)
    p, kk = np.broadcast_arrays(p, kk)
    decay = np.exp(kk * math.log1p(-1.0 / nn)) if nn > 1 else np.where(kk == 0, 1.0, 0.0)
    h = p * (1.0 - p) * decay
    return Bounds(4.0 * h, np.minimum(1.0, 2.0 * nn * h))


# --------------------------------------------------------------------------------------------
# The exact chain
# --------------------------------------------------------------------------------------------


def _band_halfwidth(n: int, size: int) -> int:
    # Row i of T is Binomial(n, i/n): mean i, sd <= sqrt(i). Beyond 14 sd (plus room for the
    # Poisson-like right tail of small rows) the mass is below 1e-40, far under the 1e-12 target.
    top = min(size - 1, n // 2) if size - 1 >= n // 2 else size - 1
    sd = math.sqrt(max(top, 1) * (1.0 - top / n)) if n > 0 else 0.0
    return int(14.0 * sd + 40)


def transition_matrix(n: int, states: int | None = None) -> NDArray[np.float64]:
    """Transition matrix of the binomial chain, T[i, j] = Binom(j; n, i/n).

    Parameters
    ----------
    n : int
        Population (sample) size, >= 1.
    states : int, optional
        Keep only the states 0..states-1 (the top-left block; rows then sum to slightly less
        than 1 where the chain can leave the block). Default: all n + 1 states.

    Notes
    -----
    Entries more than 14 standard deviations (+40) from the diagonal are set to 0 (they are
    below 1e-40); the rest come from ``scipy.stats.binom.pmf``.
    """
    nn = as_sample_size(n)
    size = nn + 1 if states is None else int(states)
    if size < 1 or size > nn + 1:
        raise ConfigError("states", states, f"an integer in [1, {nn + 1}]")
    w = _band_halfwidth(nn, size)
    out = np.zeros((size, size))
    offsets = np.arange(-w, w + 1)
    chunk = max(1, 2_000_000 // (2 * w + 1))
    for start in range(0, size, chunk):
        rows = np.arange(start, min(size, start + chunk))
        cols = rows[:, None] + offsets[None, :]
        valid = (cols >= 0) & (cols < size)
        vals = _binom().pmf(np.clip(cols, 0, size - 1), nn, rows[:, None] / nn)
        r_idx = np.broadcast_to(rows[:, None], cols.shape)[valid]
        out[r_idx, cols[valid]] = vals[valid]
    return out


class _Alive(NamedTuple):
    """Survival Pr(C_k > 0) on the states 0..size-1 for the requested generations."""

    ks: NDArray[np.int64]  # sorted unique generations
    lower: NDArray[np.float64]  # (len(ks), size)
    upper: NDArray[np.float64]


def _propagate(n: int, size: int, ks: NDArray[np.int64], target: str) -> _Alive:
    """Iterate the backward equation s_k = T s_{k-1} on the states 0..size-1.

    With size < n + 1 the chain is truncated: the mass that leaves the window is counted as
    dead in ``lower`` and as alive in ``upper``, so the two bracket the exact value.
    """
    T = transition_matrix(n, size)
    idx = np.arange(size)
    s0 = (idx > 0) & (idx < n) if target == "segregating" else idx > 0
    low = s0.astype(float)
    leak = np.clip(1.0 - T.sum(axis=1), 0.0, None) if size < n + 1 else None
    up = low.copy()
    lower = np.empty((len(ks), size))
    upper = np.empty((len(ks), size))
    pos = 0
    for step in range(int(ks[-1]) + 1):
        if step > 0:
            low = T @ low
            up = low if leak is None else T @ up + leak
        while pos < len(ks) and ks[pos] == step:
            lower[pos], upper[pos] = low, up
            pos += 1
    return _Alive(ks, lower, upper)


def _truncation_size(a_max: float, kmax: int) -> int:
    # Critical chain started at a: bulk within a +- 8 sqrt(a k); conditional on survival the count
    # at generation j is roughly exponential with mean j/2 (Yaglom), so 16 k more states leave
    # an escape probability far below 1e-12. The computed bracket checks this afterwards.
    return int(a_max + 8.0 * math.sqrt((a_max + 1.0) * (kmax + 1.0)) + 16.0 * kmax + 30)


def _start_rows(n: int, p: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Law of C_1 ~ Binomial(n, p) on the states 0..size-1, one row per start."""
    j = np.arange(size)
    return _binom().pmf(j[None, :], n, p[:, None])


def _alive_chain(
    n: int, a: NDArray[np.float64], k: NDArray[np.int64], size: int, target: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pr(C_k > 0) (or Pr(0 < C_k < n)) for starts with n p0 = a, by the (truncated) chain.

    Integer starts read the survival vector directly; other starts take one binomial step to
    C_1 ~ Bin(n, p0) and then the vector of generation k - 1.
    """
    a_flat, k_flat = a.ravel(), k.ravel()
    lo = np.empty(a_flat.shape)
    hi = np.empty(a_flat.shape)
    is_int = a_flat == np.round(a_flat)
    # Generations whose survival vectors are needed.
    need = np.concatenate([k_flat[is_int], np.maximum(k_flat[~is_int] - 1, 0)])
    ks = np.unique(need) if need.size else np.array([0])
    sol = _propagate(n, size, ks, target)
    where = {int(v): i for i, v in enumerate(ks)}
    if np.any(is_int):
        ai = a_flat[is_int].astype(np.int64)
        ki = np.array([where[int(v)] for v in k_flat[is_int]], dtype=np.int64)
        lo[is_int] = sol.lower[ki, ai]
        hi[is_int] = sol.upper[ki, ai]
    if np.any(~is_int):
        ar, kr = a_flat[~is_int], k_flat[~is_int]
        uniq, inv = np.unique(ar, return_inverse=True)
        rows = _start_rows(n, uniq / n, size)
        missing = np.clip(1.0 - rows.sum(axis=1), 0.0, None)
        ki = np.array([where[int(max(v - 1, 0))] for v in kr], dtype=np.int64)
        r = rows[inv]
        lr = np.einsum("ij,ij->i", r, sol.lower[ki])
        hr = np.einsum("ij,ij->i", r, sol.upper[ki]) + missing[inv]
        # At k = 0 the state is the (non-integer) start itself: alive iff a > 0 (and < n).
        zero = kr == 0
        at0 = (ar > 0) & ((ar < n) if target == "segregating" else True)
        lr[zero] = at0[zero]
        hr[zero] = at0[zero]
        lo[~is_int], hi[~is_int] = lr, hr
    return lo.reshape(a.shape), hi.reshape(a.shape)


def _alive_truncated(
    n: int, a: NDArray[np.float64], k: NDArray[np.int64], max_states: int
) -> NDArray[np.float64] | None:
    """Exact survival to TRUNCATION_TOL with a truncated chain, or None if it needs too many
    states. Starts with exp(-a g_k) < e^{-40} are alive to within 4e-18 and skip the chain."""
    gk = g_k(k)
    sure = a * np.where(np.isinf(gk), 1.0, gk) >= _SURE
    sure |= (k == 0) & (a > 0)
    out = np.where(sure, 1.0, 0.0)
    rest = ~sure & (a > 0)
    if not np.any(rest):
        return out
    a_r, k_r = a[rest], k[rest]
    size = min(_truncation_size(float(a_r.max()), int(k_r.max())), n + 1)
    while True:
        if size > max_states:
            return None
        lo, hi = _alive_chain(n, a_r, k_r, size, "alive")
        if size == n + 1 or np.max(hi - lo) <= 2 * TRUNCATION_TOL:
            out[rest] = 0.5 * (lo + hi)
            return out
        size = min(2 * size, n + 1)


def _kimura_survival(p: NDArray[np.float64], n: int, t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Kimura (1955) diffusion: Pr(allele not lost by time t) for initial frequency p.

        Pr(not lost) = p + p (1-p) sum_{i>=1} (2i+1)/i P_{i-1}^{(1,1)}(1-2p) e^{-i(i+1) t/(2n)}

    (the haploid form of Kimura's series; P^{(1,1)} are Jacobi polynomials, evaluated by their
    three-term recurrence). Terms are summed until they fall below 1e-17.
    """
    x = 1.0 - 2.0 * p
    pq = p * (1.0 - p)
    tt = np.where(t > 0, t, 1.0)
    total = np.zeros(np.broadcast(p, t).shape)
    prev, cur = np.zeros_like(x), np.ones_like(x)  # P_{-1}, P_0
    i = 1
    while True:
        decay = np.exp(-i * (i + 1) * tt / (2.0 * n))
        total = total + (2 * i + 1) / i * cur * decay
        if np.all((2 * i + 1) * decay * np.maximum(pq, 1e-300) <= 1e-17) or i > 200_000:
            break
        m = i - 1  # advance P_m -> P_{m+1}
        nxt = ((m + 2) * (2 * m + 3) * x * cur - (m + 1) * (m + 2) * prev) / ((m + 1) * (m + 3))
        prev, cur = cur, nxt
        i += 1
    val = p + pq * total
    val = np.where(t > 0, val, (p > 0).astype(float))
    return np.clip(val, 0.0, 1.0)


def _alive(
    n: int, a: NDArray[np.float64], k: NDArray[np.int64], method: str
) -> NDArray[np.float64]:
    """Pr(C_k > 0) for the starts n p0 = a (broadcast arrays) by the chosen method."""
    if method == "auto":
        if n <= MATRIX_MAX_N:
            method = "matrix"
        else:
            res = _alive_truncated(n, a, k, TRUNCATED_MAX_STATES)
            if res is not None:
                return res
            # Beyond exactness: branching error ~0.56 c/n, diffusion error ~0.7/c (module
            # docstring), so switch at c = sqrt(n).
            branch = 1.0 - exp_neg(a, g_k(k))
            diff = _kimura_survival(a / n, n, k.astype(float))
            return np.where(a <= math.sqrt(n), branch, diff)
    if method == "matrix":
        if n > 2 * MATRIX_MAX_N:
            raise ConfigError("n", n, f"<= {2 * MATRIX_MAX_N} for method='matrix'")
        lo, hi = _alive_chain(n, a, k, n + 1, "alive")
        return 0.5 * (lo + hi)
    if method == "truncated":
        res = _alive_truncated(n, a, k, TRUNCATED_MAX_STATES)
        if res is None:
            raise ConfigError(
                "method",
                "truncated",
                f"needs more than {TRUNCATED_MAX_STATES} states here; use 'diffusion' or 'branching'",
            )
        return res
    if method == "diffusion":
        return _kimura_survival(a / n, n, k.astype(float))
    # branching: the Poisson branching process started from Poisson(a) at generation 1
    return 1.0 - exp_neg(a, g_k(k))


def bernoulli_survival(
    p0: ArrayLike, n: int, k: ArrayLike, *, method: str = "auto"
) -> NDArray[np.float64]:
    """Exact Pr(P_k != 0) for Bernoulli recursive training from P_0 = p0 (binomial chain).

    P_1 = S/n with S ~ Bin(n, p0), then the binomial chain: Pr(P_k != 0) = sum_j Bin(j; n, p0)
    s_{k-1}(j), where s_k = T^k 1_{j>0} is the survival vector of the Wright-Fisher chain.

    Parameters
    ----------
    p0 : array_like
        Initial probability in [0, 1]; n p0 need not be an integer.
    n : int
        Samples per generation.
    k : array_like of int
        Generations (broadcast against ``p0``).
    method : {"auto", "matrix", "truncated", "diffusion", "branching"}
        "matrix": the full transition matrix (n <= 6000). "truncated": the chain on states
        0..M with a certified error below 1e-12. "diffusion": Kimura (1955). "branching":
        1 - exp(-n p0 g_k), the Poisson limit (Theorem 1's lower bound). "auto" (default):
        matrix for n <= 3000, else truncated when it needs at most 4000 states, else
        branching for n p0 <= sqrt(n) and diffusion beyond (absolute error < 0.7/sqrt(n)).
    """
    p = as_probability(p0, "p0")
    nn = as_sample_size(n)
    kk = as_generations(k)
    as_choice(method, "method", _METHODS)
    p, kk = np.broadcast_arrays(p, kk)
    return _alive(nn, nn * p, kk, method)


def bernoulli_segregating(
    p0: ArrayLike, n: int, k: ArrayLike, *, method: str = "auto"
) -> NDArray[np.float64]:
    """Exact Pr(P_k not in {0, 1}) = Pr(P_k != 0) - Pr(P_k = 1).

    By the symmetry of the chain (the complement symbol follows the same law from 1 - p0),
    Pr(P_k = 1 | p0) = 1 - Pr(P_k != 0 | 1 - p0). Same ``method`` choices as
    :func:`bernoulli_survival`.
    """
    p = as_probability(p0, "p0")
    nn = as_sample_size(n)
    kk = as_generations(k)
    as_choice(method, "method", _METHODS)
    p, kk = np.broadcast_arrays(p, kk)
    alive = _alive(nn, nn * p, kk, method)
    alive_c = _alive(nn, nn * (1.0 - p), kk, method)
    return np.clip(alive - (1.0 - alive_c), 0.0, 1.0)


def binomial_chain_survival(
    c: ArrayLike, n: int, k: ArrayLike, *, method: str = "auto"
) -> NDArray[np.float64]:
    """Pr(C_k > 0 | C_0 = c) for the binomial (Wright-Fisher) chain C_k ~ Bin(n, C_{k-1}/n).

    Exact from the transition matrix (see :func:`bernoulli_survival` for ``method``). It
    decreases in k towards the fixation probability c/n.

    Parameters
    ----------
    c : array_like of int
        Initial counts in [0, n].
    n : int
        Population size.
    k : array_like of int
        Generations (broadcast against ``c``).
    """
    nn = as_sample_size(n)
    cc = as_counts(c, "c", nn)
    kk = as_generations(k)
    as_choice(method, "method", _METHODS)
    cc, kk = np.broadcast_arrays(cc, kk)
    return _alive(nn, cc.astype(float), kk, method)


def binomial_chain_segregating(
    c: ArrayLike, n: int, k: ArrayLike, *, method: str = "auto"
) -> NDArray[np.float64]:
    """Pr(0 < C_k < n | C_0 = c): neither lost nor fixed after k generations."""
    nn = as_sample_size(n)
    cc = as_counts(c, "c", nn)
    return bernoulli_segregating(cc / nn, nn, k, method=method)


def fixation_probability(c: ArrayLike, n: int) -> NDArray[np.float64]:
    """Pr(the chain is eventually absorbed at n | C_0 = c) = c / n.

    C_k is a bounded martingale, so by optional stopping E[C_tau] = c, and C_tau is 0 or n
    (Fisher 1930; Ewens 2004, section 3.3).
    """
    nn = as_sample_size(n)
    cc = as_counts(c, "c", nn)
    return cc / nn


class AbsorptionTimes(NamedTuple):
    """Mean number of generations until absorption, overall and conditioned on the outcome.

    ``given_loss`` is NaN where loss is impossible (c = n), ``given_fixation`` where fixation is
    impossible (c = 0).
    """

    mean: NDArray[np.float64]
    given_loss: NDArray[np.float64]
    given_fixation: NDArray[np.float64]


def absorption_times(c: ArrayLike, n: int, *, method: str = "auto") -> AbsorptionTimes:
    """Mean absorption times of the binomial chain from C_0 = c.

    Exact ("matrix", default for n <= 3000): with Q the transition matrix on the transient
    states 1..n-1 and N = (I - Q)^{-1} the fundamental matrix (Kemeny and Snell 1960),
    E[tau] = N 1, and by Doob's h-transform E[tau | fixation] = (N h)_c / h_c with h_j = j/n,
    E[tau | loss] likewise with h_j = 1 - j/n. "diffusion" (default beyond): Kimura and Ohta
    (1969), see :func:`diffusion_absorption_times`.
    """
    nn = as_sample_size(n)
    cc = as_counts(c, "c", nn)
    as_choice(method, "method", ("auto", "matrix", "diffusion"))
    if method == "diffusion" or (method == "auto" and nn > MATRIX_MAX_N):
        return diffusion_absorption_times(cc / nn, nn)
    if nn > 2 * MATRIX_MAX_N:
        raise ConfigError("n", n, f"<= {2 * MATRIX_MAX_N} for method='matrix'")
    mean = np.zeros(cc.shape)
    loss = np.full(cc.shape, np.nan)
    fix = np.full(cc.shape, np.nan)
    loss[cc == 0] = 0.0
    fix[cc == nn] = 0.0
    if nn >= 2:
        T = transition_matrix(nn)
        A = np.eye(nn - 1) - T[1:nn, 1:nn]
        j = np.arange(1, nn) / nn
        sol = np.linalg.solve(A, np.column_stack([np.ones(nn - 1), j, 1.0 - j]))
        inner = (cc > 0) & (cc < nn)
        ci = cc[inner] - 1
        h = cc[inner] / nn
        mean[inner] = sol[ci, 0]
        fix[inner] = sol[ci, 1] / h
        loss[inner] = sol[ci, 2] / (1.0 - h)
    return AbsorptionTimes(mean, loss, fix)


def diffusion_absorption_times(p: ArrayLike, n: int) -> AbsorptionTimes:
    """Kimura and Ohta (1969) diffusion approximation of the mean absorption times.

    For the haploid Wright-Fisher model of size n (time in generations) from frequency p:

        E[tau]            = -2n [p log p + (1-p) log(1-p)]
        E[tau | fixation] = -2n (1-p) log(1-p) / p
        E[tau | loss]     = -2n p log p / (1-p)

    Measured against the exact matrix at n = 2000 (tests): relative error below 0.4% for
    100 <= c <= n - 100, below 1% for c >= 20, and below 5% for a single copy (the diffusion
    overestimates every mean time).
    """
    pp = as_probability(p, "p")
    nn = as_sample_size(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(pp > 0, pp * np.log(np.where(pp > 0, pp, 1.0)), 0.0)
        q = 1.0 - pp
        qlogq = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
        mean = -2.0 * nn * (plogp + qlogq)
        fix = np.where(pp > 0, -2.0 * nn * qlogq / np.where(pp > 0, pp, 1.0), np.nan)
        loss = np.where(q > 0, -2.0 * nn * plogp / np.where(q > 0, q, 1.0), np.nan)
    return AbsorptionTimes(mean, loss, fix)


def diffusion_survival(p: ArrayLike, n: int, k: ArrayLike) -> NDArray[np.float64]:
    """Kimura's (1955) diffusion approximation of Pr(C_k > 0) from the frequency p = c/n.

        Pr(not lost by t) = p + p (1-p) sum_{i>=1} (2i+1)/i P_{i-1}^{(1,1)}(1-2p) e^{-i(i+1)t/(2n)}

    with t = k generations and the Jacobi polynomials P^{(1,1)}. Accurate for large counts and
    long horizons; for a few copies over a few generations prefer the chain or the branching
    limit (see the module docstring for measured errors).
    """
    pp = as_probability(p, "p")
    nn = as_sample_size(n)
    kk = as_generations(k)
    pp, kk = np.broadcast_arrays(pp, kk)
    return _kimura_survival(pp, nn, kk.astype(float))
