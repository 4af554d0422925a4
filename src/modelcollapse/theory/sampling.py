"""Closed forms for the sampler stage: truncation of a Gaussian, temperature of a categorical.

The sampler is how a fitted model makes synthetic data, so generation 1 trains on real data
drawn as it is (N(mu0, sigma0^2), or the categorical start P_0); the stage acts from generation 2
on, on the draws of the models fitted so far.

Gaussian sampled with its standard deviation scaled by psi (SPEC.md section 7). The samples of
generation k >= 2 are N(M_{k-1}, psi^2 Sigma_{k-1}^2), so with SS ~ psi^2 Sigma^2 chi2_{n-1} and
divisor d (n - 1 unbiased, n ml):

    log Sigma_k^2 = log Sigma_{k-1}^2 + 2 ln psi + log(chi2_{n-1} / d)     (k >= 2),

a random walk with drift 2 ln psi + psi_digamma((n-1)/2) + ln(2/d) per generation, exactly, after
a first step without the 2 ln psi. Hence, with t = max(k - 1, 0) truncated generations,
E[log Sigma_k^2] = log sigma0^2 + k (psi_digamma((n-1)/2) + ln(2/d)) + 2 t ln psi,
E[Sigma_k^2] = sigma0^2 ((n-1)/d)^k psi^(2t), and the mean's squared error is
E[(M_k - mu0)^2] = (sigma0^2 / n) sum_{j<k} (psi^2 (n-1)/d)^j (step j + 1 has variance
psi_{j+1}^2 E[Sigma_j^2] / n, with psi_1 = 1).

Categorical at temperature T: the counts of generation k >= 2 are Multinomial(n, Q) with Q_i
proportional to (C_{k-1,i} / n)^(1/T). One tempered step from a known law q is exact:
E[symbols alive] = sum_i 1 - (1 - q_i)^n with q tempered; generation 2, the first tempered one,
is exact by summing that over generation 1's multinomial counts (small cases). Without sampling
noise (n -> infinity) the recursion is deterministic and the model after j tempered refits is
P_0^(T^-j) renormalised: any T < 1 drives the law to the most probable symbols.
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


def as_psi(psi: float) -> float:
    """A truncation factor psi > 0 (ConfigError naming ``truncation`` otherwise)."""
    return float(as_positive(psi, "truncation"))


def truncation_log_variance_drift(n: int, psi: float, estimator: str = "unbiased") -> float:
    """E[log(Sigma_k^2 / Sigma_{k-1}^2)] = 2 ln psi + digamma((n-1)/2) + ln(2/d)."""
    nn = as_sample_size(n, minimum=2)
    return float(
        2.0 * math.log(as_psi(psi))
        + special.digamma(0.5 * (nn - 1))
        + math.log(2.0 / _divisor(nn, estimator))
    )


def truncated_generations(k: NDArray[np.int64]) -> NDArray[np.int64]:
    """Generations whose draws were truncated among 1..k: all but the first (real data)."""
    return np.maximum(k - 1, 0)


def truncation_expected_log_variance(
    sigma0: float, n: int, k: ArrayLike, psi: float, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[log Sigma_k^2] = log sigma0^2 + k (digamma((n-1)/2) + ln(2/d)) + 2 max(k-1, 0) ln psi.

    Generation 1 trains on real data (no psi); every later generation adds the drift of
    :func:`truncation_log_variance_drift`.
    """
    s0 = float(as_positive(sigma0, "sigma0"))
    kk = as_generations(k)
    plain = truncation_log_variance_drift(n, 1.0, estimator)
    return 2.0 * math.log(s0) + kk * plain + 2.0 * math.log(as_psi(psi)) * truncated_generations(kk)


def truncation_expected_variance(
    sigma0: float, n: int, k: ArrayLike, psi: float, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[Sigma_k^2] = sigma0^2 ((n-1) / d)^k psi^(2 max(k-1, 0))."""
    s0 = float(as_positive(sigma0, "sigma0"))
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    c = (nn - 1) / _divisor(nn, estimator)
    return s0**2 * c ** kk.astype(float) * (as_psi(psi) ** 2) ** truncated_generations(kk).astype(float)


def truncation_mean_shift(
    sigma0: float, n: int, k: ArrayLike, psi: float, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[(M_k - mu0)^2] = (sigma0^2 / n) sum_{j<k} (psi^2 (n-1)/d)^j.

    Step j + 1 adds an independent N(0, psi_{j+1}^2 Sigma_j^2 / n) to the mean, with psi_1 = 1
    (real data) and E[Sigma_j^2] from :func:`truncation_expected_variance`.
    """
    s0 = float(as_positive(sigma0, "sigma0"))
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    a = as_psi(psi) ** 2 * (nn - 1) / _divisor(nn, estimator)
    top = int(kk.max(initial=0))
    cum = np.concatenate([[0.0], np.cumsum(a ** np.arange(top, dtype=float))])
    return s0**2 / nn * cum[kk]


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
    """E[symbols alive after one tempered draw of n from the law p] = sum_i 1 - (1 - q_i)^n.

    Exact for one step from a known model (q = p^(1/T) renormalised). In a run, generation 1
    trains on real data (no temperature: :func:`unique_after_one` of the start); the first
    tempered generation is the second, see :func:`temperature_unique_second`.
    """
    return unique_after_one(tempered(p, temperature), n)


#: The most compositions :func:`temperature_unique_second` sums over.
MAX_COMPOSITIONS = 2_000_000


def temperature_unique_second(p: ArrayLike, n: int, temperature: float) -> float:
    """E[symbols alive at generation 2] with generation 1 real and generation 2 tempered, exactly.

    Generation 1's counts are C ~ Multinomial(n, p) (real data); generation 2 draws n from
    Q proportional to (C/n)^(1/T), so E[alive] = sum_C P(C) sum_i 1 - (1 - Q_i(C))^n, summed here
    over every composition of n into the symbols of p with positive probability (a ConfigError
    when there are more than MAX_COMPOSITIONS of them: this is for small checks).
    """
    from itertools import combinations

    nn = as_sample_size(n)
    t = _temperature(temperature)
    q = _probabilities(p)
    live = q[q > 0]
    m = live.size
    count = math.comb(nn + m - 1, m - 1)
    if count > MAX_COMPOSITIONS:
        raise ConfigError(
            "n", nn, f"a case with at most {MAX_COMPOSITIONS:,} compositions (this has {count:,})"
        )
    # Stars and bars: the m - 1 bar positions among n + m - 1 slots give one composition each.
    bars = np.array(list(combinations(range(nn + m - 1), m - 1)), dtype=np.int64)
    bars = bars.reshape(count, m - 1)
    edges = np.hstack([np.full((count, 1), -1), bars, np.full((count, 1), nn + m - 1)])
    comps = np.diff(edges, axis=1) - 1
    log_pmf = (
        special.gammaln(nn + 1)
        - special.gammaln(comps + 1).sum(axis=1)
        + (comps * np.log(live)).sum(axis=1)
    )
    with np.errstate(divide="ignore"):
        logw = np.log(comps / nn) / t
    logw -= logw.max(axis=1, keepdims=True)
    w = np.exp(logw)
    tq = w / w.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        alive = -np.expm1(nn * np.log1p(-np.minimum(tq, 1.0))).sum(axis=1)
    return float(np.exp(log_pmf) @ alive)
