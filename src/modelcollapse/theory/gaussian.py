"""One-dimensional Gaussian recursive training: the paper's bounds and the exact law.

Each generation refits (mu, sigma) to n samples; the variance estimator divides the centred sum
of squares by d = n - 1 ("unbiased", the paper's choice) or d = n ("ml"). Because
SS ~ sigma^2 chi2_{n-1} independently of the mean,

    log Sigma_k^2 = log sigma0^2 + sum_{j=1..k} Y_j,   Y_j = log(chi2_{n-1, j} / d)  i.i.d.

so log Sigma_k^2 is a random walk with an exactly known step law. Its cumulant generating
function is K(theta) = log E[e^{theta Y}] = log Gamma(a + theta) - log Gamma(a) + theta log(2/d),
a = (n-1)/2, finite for theta > -a; the characteristic function is exp(K(i t)).

Pr(Sigma_k > eps) = Pr(sum Y_j > 2 log(eps / sigma0)) is computed by inverting the characteristic
function (Gil-Pelaez 1951) with the midpoint rule, whose discretisation error is the probability
mass more than 2 pi / step away from the point (Davies 1973, "Numerical inversion of a
characteristic function"). The step is chosen from Chernoff bounds so that this mass is below
1e-17, and the series is cut where |phi|^k / t < 1e-17, so the absolute error is about 1e-14
and the relative error below 1e-6 wherever the probability exceeds 1e-6 (checked against the
chi-square tail at k = 1, numerical integration at k = 2 and Monte Carlo in the tests).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from modelcollapse.theory._validate import (
    as_estimator,
    as_generations,
    as_positive,
    as_probability,
    as_sample_size,
)

__all__ = [
    "divisor",
    "log_variance_drift",
    "expected_log_variance",
    "variance_log_variance",
    "expected_variance",
    "expected_sigma",
    "sigma_tail",
    "sigma_cdf",
    "sigma_quantile",
    "theorem3_bound",
    "moment_bound",
    "best_moment_bound",
    "bertrand_bound",
]

_LOG_TINY = -40.0  # e^{-40} ~ 4e-18: the target for every neglected piece


def divisor(n: int, estimator: str = "unbiased") -> int:
    """The variance divisor d: n - 1 for "unbiased", n for "ml"."""
    nn = as_sample_size(n, minimum=2)
    return nn - 1 if as_estimator(estimator) == "unbiased" else nn


def _shape(n: int) -> float:
    return (n - 1) / 2.0


def _cgf(theta: NDArray[np.float64], a: float, d: int) -> NDArray[np.float64]:
    """K(theta) = log E[(chi2_{2a}/d)^theta], real theta > -a."""
    return special.gammaln(a + theta) - special.gammaln(a) + theta * math.log(2.0 / d)


def _log_cf(t: NDArray[np.float64], a: float, d: int) -> NDArray[np.complex128]:
    """log E[exp(i t Y)], Y = log(chi2_{2a}/d): log Gamma(a + it) - log Gamma(a) + it log(2/d).

    scipy's complex loggamma is continuous in t, so k * log_cf is a valid log of phi^k.
    """
    return special.loggamma(a + 1j * t) - special.gammaln(a) + 1j * t * math.log(2.0 / d)


def log_variance_drift(n: int, estimator: str = "unbiased") -> float:
    """E[log(Sigma_k^2 / Sigma_{k-1}^2)] = psi((n-1)/2) + log(2/d) (digamma psi).

    Negative for both estimators (Jensen): -0.1152 (unbiased) and -0.2206 (ml) at n = 10.
    """
    d = divisor(n, estimator)
    return float(special.digamma(_shape(n)) + math.log(2.0 / d))


def expected_log_variance(
    sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[log Sigma_k^2] = log sigma0^2 + k (psi((n-1)/2) + log(2/d)), exactly."""
    s0 = as_positive(sigma0, "sigma0")
    kk = as_generations(k)
    return 2.0 * np.log(s0) + kk * log_variance_drift(n, estimator)


def variance_log_variance(n: int, k: ArrayLike) -> NDArray[np.float64]:
    """Var[log Sigma_k^2] = k psi'((n-1)/2) (trigamma), the same for both estimators."""
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    return kk * float(special.polygamma(1, _shape(nn)))


def expected_variance(
    sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[Sigma_k^2] = sigma0^2 ((n-1)/d)^k: constant for "unbiased", decaying for "ml"."""
    s0 = as_positive(sigma0, "sigma0")
    d = divisor(n, estimator)
    kk = as_generations(k)
    return s0**2 * np.exp(kk * math.log((n - 1) / d))


def _alpha(n: int, d: int) -> float:
    """alpha_d = E[sqrt(chi2_{n-1} / d)] = sqrt(2/d) Gamma(n/2) / Gamma((n-1)/2)."""
    return math.exp(0.5 * math.log(2.0 / d) + special.gammaln(n / 2.0) - special.gammaln(_shape(n)))


def expected_sigma(
    sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """E[Sigma_k] = sigma0 alpha_d^k, alpha_d = sqrt(2/d) Gamma(n/2) / Gamma((n-1)/2) < 1."""
    s0 = as_positive(sigma0, "sigma0")
    d = divisor(n, estimator)
    kk = as_generations(k)
    return s0 * np.exp(kk * math.log(_alpha(n, d)))


# ---------------------------------------------------------------------------------------------
# Exact law of S_k = sum_{j<=k} Y_j by characteristic-function inversion
# ---------------------------------------------------------------------------------------------

_THETA_POS = np.geomspace(1e-3, 1e4, 160)
_THETA_NEG_FRAC = 1.0 - np.geomspace(1e-6, 1.0 - 1e-4, 160)  # theta = -a * frac


def _window(kk: NDArray[np.float64], a: float, d: int) -> tuple[NDArray, NDArray]:
    """[lo, hi] outside which S_k has mass below e^{-40} on each side (Chernoff bounds)."""
    tp = _THETA_POS[None, :]
    hi = np.min((kk[:, None] * _cgf(tp, a, d) - _LOG_TINY) / tp, axis=1)
    tn = -a * _THETA_NEG_FRAC[None, :]
    lo = np.max((kk[:, None] * _cgf(tn, a, d) - _LOG_TINY) / tn, axis=1)
    return lo, hi


_T_GRID = np.geomspace(1e-4, 1e5, 2000)


def _cutoff(kk: NDArray[np.float64], a: float, d: int) -> NDArray[np.float64]:
    """t beyond which |phi(t)|^k / (pi t) < e^{-40} (|phi| decreases in t)."""
    log_abs = np.real(_log_cf(_T_GRID, a, d))
    crit = kk[:, None] * log_abs[None, :] - np.log(np.pi * _T_GRID)[None, :] < _LOG_TINY
    idx = np.argmax(crit, axis=1)
    idx = np.where(crit.any(axis=1), idx, len(_T_GRID) - 1)
    return _T_GRID[idx]


def _plan(
    kk: NDArray[np.float64], width: NDArray[np.float64], a: float, d: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Midpoint step and number of terms for each k, for points within ``width`` of the mass."""
    step = 2.0 * np.pi / (1.05 * np.maximum(width, 1.0) + 1.0)
    terms = np.ceil(_cutoff(kk, a, d) / step).astype(np.int64) + 1
    return step, terms


def _tail_eval(
    x: NDArray[np.float64],
    kk: NDArray[np.float64],
    step: NDArray[np.float64],
    terms: NDArray[np.int64],
    a: float,
    d: int,
) -> NDArray[np.float64]:
    """Gil-Pelaez with the midpoint rule: Pr(S_k > x) = 1/2 + sum_j Im[phi^k(t_j) e^{-i t_j x}]
    / (pi (j + 1/2)), t_j = (j + 1/2) step."""
    out = np.empty(x.shape)
    # Batches of similar length keep the (batch x terms) arrays small.
    order = np.argsort(terms)
    budget = 4_000_000
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j - i + 1) * terms[order[j]] <= budget:
            j += 1
        idx = order[i:j]
        m = int(terms[idx].max())
        half = np.arange(m) + 0.5
        t = step[idx, None] * half[None, :]
        val = np.exp(kk[idx, None] * _log_cf(t, a, d) - 1j * t * x[idx, None])
        mask = half[None, :] < terms[idx, None]
        s = np.sum(np.where(mask, val.imag / (np.pi * half[None, :]), 0.0), axis=1)
        out[idx] = 0.5 + s
        i = j
    return np.clip(out, 0.0, 1.0)


def _tail_sum(
    x: NDArray[np.float64], kk: NDArray[np.float64], a: float, d: int
) -> NDArray[np.float64]:
    """Pr(S_k > x) for k >= 1, elementwise over the (flat) arrays x and kk."""
    lo, hi = _window(kk, a, d)
    step, terms = _plan(kk, np.maximum(x - lo, hi - x), a, d)
    return _tail_eval(x, kk, step, terms, a, d)


def _prepare(eps, sigma0, n, k, estimator):
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    kk = as_generations(k)
    e, s0, kk = np.broadcast_arrays(e, s0, kk)
    return e, s0, kk, nn, d


def sigma_tail(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """Exact Pr(Sigma_k > eps), from the law of a sum of k log-chi-square variables.

        Pr(Sigma_k > eps) = Pr(sum_{j<=k} log(chi2_{n-1,j} / d) > 2 log(eps / sigma0))

    evaluated by Gil-Pelaez inversion of phi(t)^k, phi(t) = (2/d)^{it} Gamma(a+it)/Gamma(a),
    a = (n-1)/2 (see the module docstring for the accuracy: absolute error ~1e-14).

    Parameters
    ----------
    eps : array_like
        Threshold, > 0.
    sigma0 : array_like
        Initial standard deviation, > 0.
    n : int
        Samples per generation, >= 2.
    k : array_like of int
        Generations (all three broadcast together).
    estimator : {"unbiased", "ml"}
        Variance divisor d = n - 1 or d = n.
    """
    e, s0, kk, nn, d = _prepare(eps, sigma0, n, k, estimator)
    x = 2.0 * np.log(e / s0)
    out = np.where(s0 > e, 1.0, 0.0)
    pos = kk > 0
    if np.any(pos):
        out[pos] = _tail_sum(x[pos].astype(float), kk[pos].astype(float), _shape(nn), d)
    return out


def sigma_cdf(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """Pr(Sigma_k <= eps) = 1 - :func:`sigma_tail`."""
    return 1.0 - sigma_tail(eps, sigma0, n, k, estimator)


def sigma_quantile(
    q: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """The q-quantile of Sigma_k: sigma0 exp(x/2) with Pr(S_k <= x) = q, S_k = log(Sigma_k^2 /
    sigma0^2), solved by bisection on the exact law (:func:`sigma_tail`); all arguments
    broadcast together."""
    qq = as_probability(q, "q")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    kk = as_generations(k)
    qq, s0, kk = np.broadcast_arrays(qq, s0, kk)
    a = _shape(nn)
    out = np.where(qq <= 0.0, 0.0, np.where(qq >= 1.0, np.inf, s0)).astype(float)
    todo = (kk > 0) & (qq > 0.0) & (qq < 1.0)
    if np.any(todo):
        kf, qf = kk[todo].astype(float), qq[todo]
        lo, hi = _window(kf, a, d)
        lo, hi = lo - 1.0, hi + 1.0
        step, terms = _plan(kf, hi - lo, a, d)
        # Vectorised bisection on x: Pr(S_k <= x) is increasing; 60 halvings of the Chernoff
        # window reach the resolution of float64.
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = 1.0 - _tail_eval(mid, kf, step, terms, a, d) < qf
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        out[todo] = s0[todo] * np.exp(0.25 * (lo + hi))
    return out


# ---------------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------------


def theorem3_bound(eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike) -> NDArray[np.float64]:
    """Pr(Sigma_k > eps) <= (sigma0 / eps) exp(-k / (4n - 1)) (Suresh et al. 2025, Theorem 3).

    Stated for the unbiased estimator; it holds for "ml" too, since pathwise
    Sigma_k(ml) = Sigma_k(unbiased) ((n-1)/n)^{k/2}. Clipped at 1.
    """
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    kk = as_generations(k)
    return np.minimum(1.0, s0 / e * np.exp(-kk / (4.0 * nn - 1.0)))


def _log_moment(s: NDArray[np.float64], n: int, d: int) -> NDArray[np.float64]:
    """log M(s), M(s) = E[(chi2_{n-1}/d)^s] = Gamma(a+s) / (Gamma(a) (d/2)^s)."""
    return _cgf(s, _shape(n), d)


def moment_bound(
    eps: ArrayLike,
    sigma0: ArrayLike,
    n: int,
    k: ArrayLike,
    s: float = 0.35,
    estimator: str = "unbiased",
) -> NDArray[np.float64]:
    """Markov's inequality on Sigma_k^{2s}: Pr(Sigma_k > eps) <= (sigma0/eps)^{2s} M(s)^k.

    M(s) = Gamma((n-1)/2 + s) / (Gamma((n-1)/2) (d/2)^s). The paper's Gaussian figure uses
    s = 0.35 with d = n - 1 (Suresh et al. 2025, proof of Theorem 3). Any s > 0 is valid;
    clipped at 1.
    """
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    kk = as_generations(k)
    ss = float(as_positive(s, "s"))
    logb = 2.0 * ss * np.log(s0 / e) + kk * _log_moment(np.array(ss), nn, d)
    return np.minimum(1.0, np.exp(np.minimum(logb, 0.0)))


def _inv_digamma(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """x > 0 with psi(x) = y, by Newton's method (Minka's starting point)."""
    x = np.where(y >= -2.22, np.exp(y) + 0.5, -1.0 / (y - special.digamma(1.0)))
    for _ in range(60):
        step = (special.digamma(x) - y) / special.polygamma(1, x)
        x = np.maximum(x - step, x / 10.0)
        if np.all(np.abs(step) <= 1e-14 * x):
            break
    return x


def best_moment_bound(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The moment bound minimised over s > 0 for each k (a Chernoff bound; beyond the paper).

    log bound(s) = 2 s log(sigma0/eps) + k log M(s) is convex in s; its minimiser solves
    psi(a + s) = log(d/2) + (2/k) log(eps/sigma0), a = (n-1)/2. When the solution is s <= 0
    the bound is 1 (s -> 0). Returns ``(bound, s)`` with s = 0 where the bound is trivial.
    """
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    kk = as_generations(k)
    e, s0, kk = np.broadcast_arrays(e, s0, kk)
    a = _shape(nn)
    kf = np.where(kk > 0, kk, 1).astype(float)
    y = math.log(d / 2.0) + 2.0 / kf * np.log(e / s0)
    s = _inv_digamma(y) - a
    s = np.where((kk > 0) & (s > 0), s, 0.0)
    logb = 2.0 * s * np.log(s0 / e) + kk * _log_moment(s, nn, d)
    bound = np.minimum(1.0, np.exp(np.minimum(logb, 0.0)))
    bound = np.where(kk == 0, (s0 > e).astype(float), bound)
    return bound, s


def bertrand_bound(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """Bertrand et al. (2024): Pr(Sigma_k > eps) <= alpha^k sigma0 / eps (clipped at 1).

    alpha = E[sqrt(chi2_{n-1})]/sqrt(d) = sqrt(2/d) Gamma(n/2)/Gamma((n-1)/2); this is Markov's
    inequality applied to E[Sigma_k] = sigma0 alpha^k. With d = n - 1 (default) it is the bound
    the paper compares against.
    """
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    kk = as_generations(k)
    return np.minimum(1.0, s0 / e * np.exp(kk * math.log(_alpha(nn, d))))
