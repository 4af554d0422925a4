"""Exact laws for the d-dimensional Gaussian refitted by sample mean and covariance.

One generation (SPEC.md section 2): the sample mean is N(mu, Sigma / n), independent of the
scatter matrix W ~ Wishart_d(n - 1, Sigma), and Sigma' = W / D with D = n (``ml``) or
D = n - 1 (``unbiased``). By the Bartlett decomposition (Bartlett 1933; e.g. Anderson,
"An Introduction to Multivariate Statistical Analysis", 3rd ed., section 7.2),
W = L B B^T L^T with L = chol(Sigma), B lower triangular, B_ii^2 ~ chi2_{n-i} (i = 1..d) and
B_ij ~ N(0, 1) below the diagonal, all independent. Hence

    log det Sigma_k = log det Sigma_0 + sum_{j=1}^{k} [ sum_{i=1}^{d} log chi2_{n-i, j} - d log D ],

a sum of k d independent log-chi-square variables. log chi2_nu = log 2 + log G with
G ~ Gamma(nu/2), whose cumulants are kappa_1 = psi(nu/2), kappa_r = psi^{(r-1)}(nu/2) (r >= 2).
So, exactly,

    E[log det Sigma_k]   = log det Sigma_0 + k [ sum_i (psi((n-i)/2) + log 2) - d log D ],
    Var[log det Sigma_k] = k sum_i psi'((n-i)/2).

Also E[W] = (n - 1) Sigma gives E[Sigma_k] = r^k Sigma_0 with r = (n - 1) / D, so
E[tr Sigma_k] = r^k tr Sigma_0 and, since M_k - M_{k-1} has covariance Sigma_{k-1} / n,
E|M_k - M_0|^2 = (tr Sigma_0 / n) sum_{j<k} r^j. For d = 1 these reduce to SPEC.md section 3.

Truncation psi (``samplers.Truncation``: the samples of generation k >= 2 are
N(M_{k-1}, psi^2 Sigma_{k-1}); generation 1 trains on the real data, untruncated). The scatter of
psi^2-scaled samples is psi^2 L W L^T, so for k >= 2

    log det Sigma_k = log det Sigma_{k-1} + 2 d ln psi + log det(W / D),   W ~ Wishart_d(n-1, I),

a deterministic shift of the untruncated increment. With t = max(k - 1, 0) truncated
generations: E[log det Sigma_k] = log det Sigma_0 + k kappa_1 + 2 d t ln psi (the variance is
unchanged), E[Sigma_k] = r^k psi^(2t) Sigma_0, so E[tr Sigma_k] = r^k psi^(2t) tr Sigma_0, and
step j + 1 moves the mean by N(0, psi_{j+1}^2 Sigma_j / n) with psi_1 = 1, so
E|M_k - M_0|^2 = (tr Sigma_0 / n) sum_{j<k} (psi^2 r)^j. For d = 1 these are the scalar
Gaussian's (``modelcollapse.theory.sampling``, SPEC.md section 7).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import polygamma, psi

from modelcollapse.errors import ConfigError
from modelcollapse.theory._validate import (
    as_estimator,
    as_generations,
    as_sample_size,
)
from modelcollapse.theory.sampling import as_psi, truncated_generations


def _check(n: int, d: int, estimator: str) -> tuple[int, int, int]:
    d = as_sample_size(d, "d", 1)
    n = as_sample_size(n, "n", 2)
    if n < d + 1:
        raise ConfigError("n", n, f"an integer >= d + 1 = {d + 1} (a nonsingular covariance)")
    as_estimator(estimator)
    divisor = n if estimator == "ml" else n - 1
    return n, d, divisor


def logdet_step_cumulants(n: int, d: int, estimator: str = "unbiased", order: int = 2) -> list:
    """Cumulants kappa_1..kappa_order of one generation's increment of log det Sigma.

    kappa_1 = sum_i (psi((n-i)/2) + log 2) - d log D; kappa_r = sum_i psi^{(r-1)}((n-i)/2).
    The k-generation increment has k times these cumulants (independent steps).
    """
    n, d, divisor = _check(n, d, estimator)
    half = (n - np.arange(1, d + 1)) / 2.0
    out = [float(np.sum(psi(half)) + d * math.log(2.0) - d * math.log(divisor))]
    for r in range(2, order + 1):
        out.append(float(np.sum(polygamma(r - 1, half))))
    return out


def logdet_mean(
    k: ArrayLike, n: int, d: int, estimator: str = "unbiased", logdet0: float = 0.0
) -> NDArray[np.float64]:
    """E[log det Sigma_k] (exact), for generations ``k``."""
    kk = as_generations(k)
    return logdet0 + kk * logdet_step_cumulants(n, d, estimator, 1)[0]


def logdet_var(k: ArrayLike, n: int, d: int) -> NDArray[np.float64]:
    """Var[log det Sigma_k] = k sum_{i=1}^d psi'((n-i)/2) (exact; the same for both estimators)."""
    kk = as_generations(k)
    return kk * logdet_step_cumulants(n, d, "unbiased", 2)[1]


def trace_mean(
    k: ArrayLike, n: int, trace0: float, estimator: str = "unbiased", d: int = 1
) -> NDArray[np.float64]:
    """E[tr Sigma_k] = ((n-1)/D)^k tr Sigma_0."""
    kk = as_generations(k)
    n, d, divisor = _check(n, d, estimator)
    return trace0 * ((n - 1) / divisor) ** kk.astype(float)


def mean_shift_sq_mean(
    k: ArrayLike, n: int, trace0: float, estimator: str = "unbiased", d: int = 1
) -> NDArray[np.float64]:
    """E|M_k - M_0|^2 = (tr Sigma_0 / n) sum_{j=0}^{k-1} r^j, r = (n-1)/D."""
    kk = as_generations(k).astype(float)
    n, d, divisor = _check(n, d, estimator)
    r = (n - 1) / divisor
    geometric = kk if r == 1.0 else (1.0 - r**kk) / (1.0 - r)
    return trace0 / n * geometric


def truncation_logdet_mean(
    k: ArrayLike,
    n: int,
    d: int,
    psi: float,
    estimator: str = "unbiased",
    logdet0: float = 0.0,
) -> NDArray[np.float64]:
    """E[log det Sigma_k] under truncation psi (exact):
    log det Sigma_0 + k kappa_1 + 2 d max(k - 1, 0) ln psi, with kappa_1 of
    :func:`logdet_step_cumulants`. Var[log det Sigma_k] is :func:`logdet_var`'s, unchanged."""
    kk = as_generations(k)
    p = as_psi(psi)
    n, d, _ = _check(n, d, estimator)
    return logdet_mean(kk, n, d, estimator, logdet0) + 2.0 * d * math.log(p) * truncated_generations(kk)


def truncation_trace_mean(
    k: ArrayLike,
    n: int,
    trace0: float,
    psi: float,
    estimator: str = "unbiased",
    d: int = 1,
) -> NDArray[np.float64]:
    """E[tr Sigma_k] under truncation psi (exact): ((n-1)/D)^k psi^(2 max(k-1, 0)) tr Sigma_0."""
    kk = as_generations(k)
    p = as_psi(psi)
    return trace_mean(kk, n, trace0, estimator, d) * (p * p) ** truncated_generations(kk).astype(float)


def truncation_mean_shift_sq_mean(
    k: ArrayLike,
    n: int,
    trace0: float,
    psi: float,
    estimator: str = "unbiased",
    d: int = 1,
) -> NDArray[np.float64]:
    """E|M_k - M_0|^2 under truncation psi (exact): (tr Sigma_0 / n) sum_{j<k} (psi^2 r)^j,
    r = (n-1)/D (step j + 1 adds N(0, psi_{j+1}^2 Sigma_j / n), psi_1 = 1)."""
    kk = as_generations(k)
    p = as_psi(psi)
    n, d, divisor = _check(n, d, estimator)
    a = p * p * (n - 1) / divisor
    top = int(kk.max(initial=0))
    cum = np.concatenate([[0.0], np.cumsum(a ** np.arange(top, dtype=float))])
    return trace0 / n * cum[kk]
