"""Closed forms for the sampler stage: truncation of a Gaussian, temperature of a categorical.

Gaussian sampled with its standard deviation scaled by psi (SPEC.md section 7). The samples of
generation k are N(M_{k-1}, psi^2 Sigma_{k-1}^2), so with SS ~ psi^2 Sigma^2 chi2_{n-1} and
divisor d (n - 1 unbiased, n ml):

    log Sigma_k^2 = log Sigma_{k-1}^2 + 2 ln psi + log(chi2_{n-1} / d),

a random walk with drift 2 ln psi + psi_digamma((n-1)/2) + ln(2/d) per generation, exactly;
E[Sigma_k^2] = sigma0^2 (psi^2 (n-1)/d)^k, and the mean's squared error is
E[(M_k - mu0)^2] = (psi^2 sigma0^2 / n) sum_{j<k} (psi^2 (n-1)/d)^j.

Categorical at temperature T: the next counts are Multinomial(n, Q) with Q_i proportional to
P_i^(1/T). Generation 1 is exact: E[symbols alive] = sum_i 1 - (1 - q_i)^n with q the tempered
start. Without sampling noise (n -> infinity) the recursion is deterministic and the k-th model
is P_0^(T^-k) renormalised: any T < 1 drives the law to the most probable symbols.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from modelcollapse.errors import ConfigError
from modelcollapse.theory._validate import (
    as_estimator,
    as_generations,
    as_positive,
    as_sample_size,
)


def _divisor(n: int, estimator: str) -> int:
    return n if as_estimator(estimator) == "ml" else n - 1


def _psi(psi: float) -> float:
    return float(as_positive(psi, "truncation"))


def truncation_log_variance_drift(n: int, psi: float, estimator: str = "unbiased") -> float:
    """E[log(Sigma_k^2 / Sigma_{k-1}^2)] = 2 ln psi + digamma((n-1)/2) + ln(2/d)."""
    nn = as_sample_size(n, minimum=2)
    return float(
        2.0 * math.log(_psi(psi))
        + special.digamma(0.5 * (nn - 1))
        + math.log(2.0 / _divisor(nn, estimator))
    )


def truncation_expected_log_variance(
    sigma0: float, n: int, k: ArrayLike, psi: float, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[log Sigma_k^2] = log sigma0^2 + k (2 ln psi + digamma((n-1)/2) + ln(2/d))."""
    s0 = float(as_positive(sigma0, "sigma0"))
    kk = as_generations(k)
    return 2.0 * math.log(s0) + kk * truncation_log_variance_drift(n, psi, estimator)


def truncation_expected_variance(
    sigma0: float, n: int, k: ArrayLike, psi: float, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[Sigma_k^2] = sigma0^2 (psi^2 (n-1) / d)^k."""
    s0 = float(as_positive(sigma0, "sigma0"))
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    return s0**2 * (_psi(psi) ** 2 * (nn - 1) / _divisor(nn, estimator)) ** kk.astype(float)


def truncation_mean_shift(
    sigma0: float, n: int, k: ArrayLike, psi: float, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[(M_k - mu0)^2] = (psi^2 sigma0^2 / n) sum_{j<k} (psi^2 (n-1)/d)^j."""
    s0 = float(as_positive(sigma0, "sigma0"))
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    a = _psi(psi) ** 2 * (nn - 1) / _divisor(nn, estimator)
    top = int(kk.max(initial=0))
    cum = np.concatenate([[0.0], np.cumsum(a ** np.arange(top, dtype=float))])
    return _psi(psi) ** 2 * s0**2 / nn * cum[kk]


def _probabilities(p: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError("p", "invalid", "a non-empty list of finite probabilities >= 0")
    if arr.sum() <= 0:
        raise ConfigError("p", "all zero", "at least one positive probability")
    return arr / arr.sum()


def _temperature(t: float) -> float:
    return float(as_positive(t, "temperature"))


def tempered(p: ArrayLike, temperature: float) -> NDArray[np.float64]:
    """p^(1/T) renormalised (computed in log space, so rare symbols do not underflow)."""
    q = _probabilities(p)
    t = _temperature(temperature)
    with np.errstate(divide="ignore"):
        logq = np.log(q) / t
    logq -= logq.max()
    out = np.exp(logq)
    return out / out.sum()


def temperature_limit(p: ArrayLike, temperature: float, k: int) -> NDArray[np.float64]:
    """The n -> infinity model after k tempered refits: P_0^(T^-k) renormalised."""
    kk = int(as_generations(k))
    return tempered(p, _temperature(temperature) ** kk)


def nucleus(p: ArrayLike, top_p: float) -> NDArray[np.float64]:
    """Top-p (nucleus) law: the most probable symbols until their mass reaches ``top_p`` (the
    one crossing it included; ties by lower index), renormalised."""
    q = _probabilities(p)
    top = float(top_p)
    if not 0.0 < top <= 1.0 or not math.isfinite(top):
        raise ConfigError("top_p", top_p, "a number in (0, 1]")
    order = np.argsort(-q, kind="stable")
    mass_before = np.cumsum(q[order]) - q[order]
    keep = np.zeros(q.size, dtype=bool)
    keep[order[(mass_before < top) & (q[order] > 0)]] = True
    out = np.where(keep, q, 0.0)
    return out / out.sum()


def unique_after_one(q: ArrayLike, n: int) -> float:
    """E[symbols drawn at least once in n draws from q] = sum_i 1 - (1 - q_i)^n."""
    nn = as_sample_size(n)
    qq = _probabilities(q)
    # log1p keeps 1 - (1 - q)^n accurate for the tiny q of rare symbols.
    with np.errstate(divide="ignore"):  # q_i = 1: log1p(-1) = -inf, (1 - q)^n = 0
        return float(-np.expm1(nn * np.log1p(-np.minimum(qq, 1.0))).sum())


def temperature_unique_first(p: ArrayLike, n: int, temperature: float) -> float:
    """E[symbols alive after one tempered generation] = sum_i 1 - (1 - q_i)^n (exact)."""
    return unique_after_one(tempered(p, temperature), n)
