"""Poisson recursive training: Theorem 2 (exact) and the critical branching process.

With Lambda_0 = lam0 and Lambda_k = S_k / n, S_k ~ Poisson(n Lambda_{k-1}), the counts
N_k = n Lambda_k (k >= 1) form a critical Galton-Watson process with Poisson(1) offspring:
N_k | N_{k-1} ~ Poisson(N_{k-1}). Its generating function f(s) = exp(s - 1) gives the
extinction probability from one ancestor q_k = f(q_{k-1}), q_0 = 0, and from N_0 = c ancestors
q_k^c (Athreya and Ney 1972, ch. I). Since q_k = exp(-g_k), everything reduces to g_k.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.theory._common import exp_neg
from modelcollapse.theory._validate import as_generations, as_nonnegative, as_sample_size
from modelcollapse.theory.iterated import g_k

__all__ = ["theorem2_survival", "branching_survival"]


def theorem2_survival(lam0: ArrayLike, n: int, k: ArrayLike) -> NDArray[np.float64]:
    """Pr(Lambda_k != 0) = 1 - exp(-n lam0 g_k), exactly (Suresh et al. 2025, Theorem 2).

    S_1 ~ Poisson(n lam0) and, given S_1, extinction by generation k has probability
    q_{k-1}^{S_1}; averaging over S_1 gives exp(n lam0 (q_{k-1} - 1)) = exp(-n lam0 g_k).

    Parameters
    ----------
    lam0 : array_like
        Initial rate, >= 0.
    n : int
        Samples per generation.
    k : array_like of int
        Generations >= 0 (broadcast against ``lam0``).
    """
    lam = as_nonnegative(lam0, "lam0")
    nn = as_sample_size(n)
    kk = as_generations(k)
    lam, kk = np.broadcast_arrays(lam, kk)
    return -np.expm1(-np.where(lam == 0, 0.0, nn * lam * g_k(kk)))


def branching_survival(c: ArrayLike, k: ArrayLike) -> NDArray[np.float64]:
    """Pr(N_k > 0 | N_0 = c) for the critical Poisson(1) Galton-Watson process.

    Equal to 1 - q_k^c = 1 - exp(-c g_k) with q_k the extinction probability of one line
    (Athreya and Ney 1972, ch. I.1). For real c >= 0 it is the survival when N_1 ~ Poisson(c),
    which is the Poisson family of Theorem 2 with c = n lam0, and the limit of the binomial chain
    when n -> infinity with c fixed.
    """
    cc = as_nonnegative(c, "c")
    kk = as_generations(k)
    cc, kk = np.broadcast_arrays(cc, kk)
    return 1.0 - exp_neg(cc, g_k(kk))
