"""Symmetric two-component Gaussian mixture 0.5 N(mu, s^2) + 0.5 N(-mu, s^2)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.theory._validate import as_generations, as_positive, as_sample_size

__all__ = ["theorem4_bound"]


def theorem4_bound(eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike) -> NDArray[np.float64]:
    """Pr(Sigma_k > eps) <= (sigma0 / eps) exp(-k / (4n)) (Suresh et al. 2025, Theorem 4).

    For the symmetric 2-GMM refitted with the approximate joint ML estimator ("Algorithm 1" of
    the paper, any eta > 1); Sigma_k is the within-component standard deviation s of generation
    k. Clipped at 1. No exact law is known for this estimator (no finite sufficient statistic).
    """
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    return np.minimum(1.0, s0 / e * np.exp(-kk / (4.0 * nn)))
