"""Categorical (unigram) recursive training: Corollary 1 and the exact E[uniq_k].

Each symbol's count in a multinomial refit is marginally the binomial chain of
:mod:`modelcollapse.theory.bernoulli`, so by linearity of expectation

    E[uniq_k] = sum_i Pr(C_{i,k} > 0)

exactly, whatever the dependence between symbols. Symbols with equal start value n p_i have
equal terms, so every function here groups them first: the cost grows with the number of
*distinct* counts (a few thousand for a real corpus), not with the vocabulary size.

The start is either a probability vector ``probs`` with n samples per generation (then
C_{i,1} ~ Bin(n, p_i)), or the ``counts`` of a corpus, taken as the empirical distribution
p_i = c_i / N with n = N by default (then n p_i = c_i is the count itself).
"""

from __future__ import annotations

import math

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
from modelcollapse.theory.bernoulli import _METHODS, _alive
from modelcollapse.theory.iterated import g_k

__all__ = [
    "grouped_start",
    "corollary1_bounds",
    "expected_unique",
    "expected_unique_fraction",
    "expected_gini_simpson",
]


def grouped_start(
    probs: ArrayLike | None = None, counts: ArrayLike | None = None, n: int | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int64], int]:
    """Distinct start values a = n p_i (> 0), their multiplicities, and n.

    Exactly one of ``probs`` (a probability vector, then ``n`` is required) and ``counts``
    (non-negative integers; ``n`` defaults to their sum) must be given. Zero entries are dropped:
    a symbol of probability 0 is never present.
    """
    if (probs is None) == (counts is None):
        raise ConfigError("start", "probs and counts", "exactly one of probs or counts")
    if counts is not None:
        c = as_counts(np.ravel(np.asarray(counts)), "counts")
        total = int(c.sum())
        if total < 1:
            raise ConfigError("counts", "all zero", "at least one positive count")
        nn = total if n is None else as_sample_size(n)
        uniq, mult = np.unique(c[c > 0], return_counts=True)
        a = uniq.astype(float) if nn == total else uniq * (nn / total)
        return a, mult.astype(np.int64), nn
    p = as_probability(np.ravel(np.asarray(probs, dtype=float)), "probs")
    if not math.isclose(float(p.sum()), 1.0, rel_tol=0, abs_tol=1e-9):
        raise ConfigError("probs", f"sum {float(p.sum())!r}", "entries summing to 1")
    if n is None:
        raise ConfigError("n", None, "an integer >= 1 (required with probs)")
    nn = as_sample_size(n)
    uniq, mult = np.unique(p[p > 0], return_counts=True)
    return nn * uniq, mult.astype(np.int64), nn


def corollary1_bounds(
    k: ArrayLike,
    *,
    probs: ArrayLike | None = None,
    counts: ArrayLike | None = None,
    n: int | None = None,
) -> Bounds:
    """Bounds on E[uniq_k] (Suresh et al. 2025, Corollary 1): Theorem 1 summed over symbols.

        sum_i (1 - e^{-n p_i g_k}) <= E[uniq_k] <= sum_i (1 - max(0, 1 - 3 n p_i^2 - 3 k p_i) e^{-n p_i g_k})

    Parameters
    ----------
    k : array_like of int
        Generations; the result has the shape of ``k``.
    probs, counts, n
        The start, see :func:`grouped_start`.
    """
    a, mult, nn = grouped_start(probs, counts, n)
    kk = as_generations(k)
    flat = kk.ravel()
    gk = g_k(flat)[None, :]
    p = (a / nn)[:, None]
    e = exp_neg(a[:, None], gk)
    slack = np.maximum(0.0, 1.0 - 3.0 * nn * p**2 - 3.0 * flat[None, :] * p)
    w = mult[:, None].astype(float)
    lower = np.sum(w * (1.0 - e), axis=0)
    upper = np.sum(w * (1.0 - slack * e), axis=0)
    return Bounds(lower.reshape(kk.shape), upper.reshape(kk.shape))


def expected_unique(
    k: ArrayLike,
    *,
    probs: ArrayLike | None = None,
    counts: ArrayLike | None = None,
    n: int | None = None,
    method: str = "auto",
) -> NDArray[np.float64]:
    """Exact E[uniq_k] = sum_i Pr(C_{i,k} > 0), the expected number of symbols still present.

    Each term is the binomial-chain survival (:func:`~modelcollapse.theory.bernoulli_survival`,
    same ``method`` choices: exact for n <= 3000 and, beyond, whenever a chain of at most 4000
    states suffices, e.g. a 436,577-token corpus over 10 generations). Cost: one chain for all
    symbols, plus one binomial row per distinct non-integer start n p_i.
    """
    a, mult, nn = grouped_start(probs, counts, n)
    kk = as_generations(k)
    as_choice(method, "method", _METHODS)
    flat = kk.ravel()
    aa, kb = np.broadcast_arrays(a[:, None], flat[None, :])
    surv = _alive(nn, np.ascontiguousarray(aa), np.ascontiguousarray(kb), method)
    return (mult.astype(float) @ surv).reshape(kk.shape)


def expected_unique_fraction(
    k: ArrayLike,
    *,
    probs: ArrayLike | None = None,
    counts: ArrayLike | None = None,
    n: int | None = None,
    method: str = "auto",
) -> NDArray[np.float64]:
    """E[uniq_k] / m, with m the number of symbols of positive start probability."""
    _, mult, _ = grouped_start(probs, counts, n)
    return expected_unique(k, probs=probs, counts=counts, n=n, method=method) / mult.sum()


def expected_gini_simpson(
    k: ArrayLike,
    *,
    probs: ArrayLike | None = None,
    counts: ArrayLike | None = None,
    n: int | None = None,
) -> NDArray[np.float64]:
    """E[1 - sum_i P_{i,k}^2] = (1 - sum_i p_i^2) (1 - 1/n)^k, exactly.

    The classical decay of heterozygosity in the Wright-Fisher model (Wright 1931): for one
    multinomial step E[sum_i P_i'^2] = sum_i p_i^2 + (1 - sum_i p_i^2)/n.
    """
    a, mult, nn = grouped_start(probs, counts, n)
    kk = as_generations(k)
    p = a / nn
    h0 = 1.0 - float(np.sum(mult * p**2))
    return h0 * np.exp(kk * math.log1p(-1.0 / nn)) if nn > 1 else np.where(kk == 0, h0, 0.0)
