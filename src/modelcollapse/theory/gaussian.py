"""One-dimensional Gaussian recursive training: the paper's bounds and the exact law.

Each generation refits (mu, sigma) to n samples; the variance estimator divides the centred sum
of squares by d = n - 1 ("unbiased", the paper's choice) or d = n ("ml"). Because
SS ~ sigma^2 chi2_{n-1} independently of the mean,

    log Sigma_k^2 = log sigma0^2 + sum_{j=1..k} Y_j,   Y_j = log(chi2_{n-1, j} / d)  i.i.d.

so log Sigma_k^2 is a random walk with an exactly known step law. Its cumulant generating
function is K(theta) = log E[e^{theta Y}] = log Gamma(a + theta) - log Gamma(a) + theta log(2/d),
a = (n-1)/2, finite for theta > -a; the characteristic function is exp(K(i t)).

Pr(Sigma_k > eps) = Pr(sum Y_j > 2 log(eps / sigma0)) and its complement are computed by
inverting the moment generating function along a vertical contour through the saddlepoint
(Strawderman 2004) with the trapezoidal rule, whose aliasing error Poisson summation bounds;
the smaller tail is the integral itself, so its relative accuracy survives down to 1e-300.
log Gamma(a + z) - log Gamma(a) is evaluated from Stirling's series without the cancellation
that a direct difference suffers for large a (multiplied by k, it cost 4 digits at n = 1001,
k = 3000). Measured against mpmath (incomplete gamma at k = 1, a 30-digit inversion beyond)
for 2 <= n <= 10^5, 1 <= k <= 10^6 and both estimators: relative error below 2e-12 in both
tails wherever the probability exceeds 1e-300 (the documented promise is 1e-8).
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

def divisor(n: int, estimator: str = "unbiased") -> int:
    """The variance divisor d: n - 1 for "unbiased", n for "ml"."""
    nn = as_sample_size(n, minimum=2)
    return nn - 1 if as_estimator(estimator) == "unbiased" else nn


def _shape(n: int) -> float:
    return (n - 1) / 2.0


def _cgf(theta: NDArray[np.float64], a: float, d: int) -> NDArray[np.float64]:
    """K(theta) = log E[(chi2_{2a}/d)^theta], real theta > -a."""
    return special.gammaln(a + theta) - special.gammaln(a) + theta * math.log(2.0 / d)


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
# Exact law of S_k = sum_{j<=k} Y_j: saddlepoint-contour inversion
# ---------------------------------------------------------------------------------------------

#: Bernoulli numbers B_2, B_4, ..., B_16 for the Stirling series of log Gamma.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
#: Stirling coefficients c_j = B_2j / (2j (2j-1)); the series is used where Re w >= _STIRLING_MIN
#: so the first omitted term, |c_9| / 20^17 ~ 1e-23, is far below double precision.
_STIRLING = tuple(b / (2 * j * (2 * j - 1)) for j, b in enumerate(_BERNOULLI, start=1))
_STIRLING_MIN = 20.0
#: Below this |u| the power series of h(u) and log1p(u) - u are used (18 terms: the first
#: omitted one is 1e-19 of the sum); above it the direct formulas lose at most 1.5 digits.
_SERIES_RADIUS = 0.1
_SERIES_TERMS = 18
#: Each neglected piece of the inversion (aliasing, truncation) is below e^{-_NEGLECT} relative.
_NEGLECT = 45.0


def _series(u: NDArray, coef: NDArray) -> NDArray:
    """sum_{j>=2} coef[j] u^j by Horner's rule."""
    acc = np.zeros_like(u)
    for c in coef[:1:-1]:
        acc = (acc + c) * u
    return acc * u


_J = np.arange(_SERIES_TERMS + 1, dtype=float)
with np.errstate(divide="ignore"):
    # h(u) = (1+u) log1p(u) - u = sum_{j>=2} (-1)^j u^j / (j (j-1))
    _H_COEF = np.where(_J >= 2, (-1.0) ** _J / (_J * (_J - 1.0)), 0.0)
    # log1p(u) - u = sum_{j>=2} (-1)^(j+1) u^j / j
    _L_COEF = np.where(_J >= 2, -((-1.0) ** _J) / _J, 0.0)


def _h_and_l(u: NDArray[np.complex128]) -> tuple[NDArray, NDArray]:
    """h(u) = (1+u) log1p(u) - u and l(u) = log1p(u) - u without cancellation near u = 0."""
    small = np.abs(u) < _SERIES_RADIUS
    lp = special.log1p(u)
    h = (1.0 + u) * lp - u
    ell = lp - u
    if np.any(small):
        us = u[small]
        h[small] = _series(us, _H_COEF)
        ell[small] = _series(us, _L_COEF)
    return h, ell


def _log_gamma_ratio(z: NDArray[np.complex128], a: float) -> NDArray[np.complex128]:
    """D(z) = log Gamma(a+z) - log Gamma(a) - z psi(a) for Re(a + z) > 0, to full precision.

    The direct difference loses about log10(a log a) digits, and k multiplies what is lost.
    Instead: shift a to b = a + m with b >= 20 and Re(b + z) >= 20 (log Gamma(w+1) =
    log Gamma(w) + log w),

        D_a(z) = D_b(z) - sum_{j<m} [log1p(z/(a+j)) - z/(a+j)]   (modulo 2 pi i),

    and expand D_b with Stirling's series (Abramowitz and Stegun 6.1.40, 6.3.18), u = z/b:

        D_b(z) = b h(u) - (log1p(u) - u)/2 + sum_j c_j b^{1-2j} [(1+u)^{1-2j} - 1 + (2j-1) u],

    h(u) = (1+u) log1p(u) - u; every piece is small when z is, so nothing cancels.
    """
    # Stirling expands both log Gamma(b + z) and log Gamma(b): both b and Re(b + z) >= 20.
    # One shift for the whole array (a larger shift is as exact), so the loop below is short.
    low_re = float(np.min(z.real)) if z.size else 0.0
    m = max(0.0, math.ceil(_STIRLING_MIN - a - min(low_re, 0.0)))
    b = a + m
    u = z / b
    h, ell = _h_and_l(u)
    w = 1.0 / (1.0 + u)
    out = b * h - 0.5 * ell + _STIRLING[0] * u * u * w / b
    w2, wp, b2, bp = w * w, w, 1.0 / (b * b), 1.0 / b
    for j, c in enumerate(_STIRLING[1:], start=2):
        wp, bp = wp * w2, bp * b2  # (1+u)^{1-2j}, b^{1-2j}
        out = out + c * bp * (wp - 1.0 + (2 * j - 1) * u)
    # sum_{j<m} log1p(z/(a+j)) = log P, P = prod (a+j+z)/(a+j). Near P = 1 it is taken as
    # log1p(Q), Q = P - 1 accumulated on its own, so that nothing cancels for small z. The
    # principal log may differ from the continuous one by 2 pi i: harmless, since only
    # exp(k D) with integer k is used.
    prod = np.ones_like(u)
    log_prod = np.zeros_like(u)
    q = np.zeros_like(u)
    lin = np.zeros_like(u)
    for j in range(int(m)):
        v = z * (1.0 / (a + j))
        with np.errstate(over="ignore", invalid="ignore"):
            q += v * (1.0 + q)  # only used where it stays below 1/2
        prod *= 1.0 + v
        lin += v
        if j == int(m) - 1 or np.max(np.abs(prod)) > 1e150:  # fold before it can overflow
            log_prod += np.log(prod)
            prod[...] = 1.0
    near = np.abs(q) < 0.5
    q = np.where(near, q, 0.0)
    shift = np.where(near, special.log1p(q), log_prod) - lin
    return out - shift


def _log_gamma_ratio_real(s: NDArray[np.float64], a: float) -> NDArray[np.float64]:
    return _log_gamma_ratio(np.asarray(s, dtype=complex), a).real


def _step_mean(a: float, d: int) -> float:
    """E[Y] = psi(a) + log(2/d), Y = log(chi2_{2a}/d); psi(a) - log(a) by its asymptotic
    series for large a (A&S 6.3.18) so that k E[Y] keeps full relative precision."""
    if a >= _STIRLING_MIN:
        nu = -0.5 / a - sum(c * (2 * j - 1) * a ** (-2 * j) for j, c in enumerate(_STIRLING, 1))
    else:
        nu = float(special.digamma(a)) - math.log(a)
    # log(2/d) = -log(a) + log(2a/d): zero for d = 2a, -log1p(1/(2a)) for d = 2a + 1.
    return nu - math.log1p((d - 2.0 * a) / (2.0 * a))


def _saddlepoint(xc: NDArray, kk: NDArray, a: float) -> NDArray:
    """tau with K_c'(tau) = k [psi(a + tau) - psi(a)] = x_c, by safeguarded Newton steps.

    Only the position of the contour depends on tau (the integral does not), so a few digits
    suffice; K_c' is increasing and concave, and tau stays in (-a, inf)."""
    tau = xc / (kk * float(special.polygamma(1, a)))
    tau = np.maximum(tau, -0.5 * a)
    psi_a = float(special.digamma(a))
    for _ in range(60):
        f = kk * (special.digamma(a + tau) - psi_a) - xc
        fp = kk * special.polygamma(1, a + tau)
        new = tau - f / fp
        new = np.where(new <= -a, 0.5 * (tau - a), new)
        done = np.abs(new - tau) <= 1e-6 * (np.abs(tau) + 1e-300)
        tau = new
        if np.all(done):
            break
    return tau


def _tails(
    xc: NDArray[np.float64], kk: NDArray[np.float64], a: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(Pr(S > x), Pr(S <= x), density at x) for S = S_k - k E[Y] at x = x_c, k >= 1.

    The smaller tail is the contour integral (Strawderman 2004, "Computing tail probabilities
    by numerical Fourier inversion: the absolutely continuous case", Statistica Sinica 14)

        Pr(S > x)  =  (1/2 pi) int Re[exp(K(tau+it) - (tau+it) x) / (tau+it)] dt,  tau > 0,
        Pr(S <= x) = -(1/2 pi) int Re[exp(K(tau+it) - (tau+it) x) / (tau+it)] dt,  -a < tau < 0,

    K(z) = k D(z) (:func:`_log_gamma_ratio`), taken through the saddlepoint K'(tau) = x (moved
    to |tau| >= 1/sd so the pole at 0 stays far), with the trapezoidal rule of step h. By
    Poisson summation the rule returns the tail plus aliases at x +- 2 pi m / h, weighted by
    e^{-+2 pi m tau / h}; the period 2 pi / h is chosen so that each alias is below e^{-45}
    times the answer (60 tilted standard deviations, and tau 2 pi / h above the Chernoff
    exponent), and the sum is cut where the terms fall below e^{-45} of the first. Factoring
    out the Chernoff factor exp(K(tau) - tau x) keeps relative accuracy down to 1e-300; the
    larger tail is 1 minus the smaller (which loses nothing, as the larger is >= 1/2).
    """
    sd = np.sqrt(kk * float(special.polygamma(1, a)))
    # The smaller tail is the upper one above the median (mean - kappa_3 / (6 kappa_2)).
    median = -kk * float(special.polygamma(2, a)) / (6.0 * sd**2)
    upper = xc > median
    tau = _saddlepoint(xc, kk, a)
    floor = np.minimum(1.0 / sd, 0.5 * a)
    tau = np.where(upper, np.maximum(tau, floor), np.minimum(tau, -floor))
    tau = np.maximum(tau, -a * (1.0 - 1e-12))
    k_tau = kk * _log_gamma_ratio_real(tau, a)
    expo = k_tau - tau * xc  # log of the Chernoff bound (<= 0 up to the shift of tau)
    sd_tilt = np.sqrt(kk * special.polygamma(1, a + tau))
    chernoff_gap = np.maximum(-expo, 0.0) + np.log(np.maximum(1.0, np.abs(tau) * sd_tilt * 2.51))
    period = np.maximum(60.0 * sd_tilt, (chernoff_gap + _NEGLECT) / np.abs(tau))
    h = 2.0 * np.pi / period
    total = np.zeros(xc.shape)
    dens = np.zeros(xc.shape)
    # The Chernoff factor bounds the smaller tail: below e^{-745} it underflows to 0 anyway.
    active = expo > -745.0
    # First chunk: where a Gaussian of sd sd_tilt would fall below e^{-_NEGLECT}; the log-gamma
    # sum decays more slowly in t when k a is small, and further chunks cover that.
    first = np.ceil(np.sqrt(2.0 * (_NEGLECT + 5.0)) / (sd_tilt * h)) + 2.0
    start, chunk = 0, int(np.max(first[active])) if np.any(active) else 0
    while np.any(active):
        idx = np.nonzero(active)[0]
        j = np.arange(start, start + chunk, dtype=float)
        t = h[idx, None] * j[None, :]
        z = tau[idx, None] + 1j * t
        log_g = kk[idx, None] * _log_gamma_ratio(z, a) - k_tau[idx, None] - 1j * t * xc[idx, None]
        g = np.exp(log_g)
        w = np.where(j == 0, 0.5, 1.0)[None, :]
        total[idx] += np.sum(w * (g / z).real, axis=1)
        dens[idx] += np.sum(w * g.real, axis=1)
        # |exp(K(tau+it))| decreases in |t| (|Gamma(b+it)| does), so stop once the last term
        # of the chunk is negligible.
        last = log_g[:, -1].real - np.log(np.abs(z[:, -1] / tau[idx]))
        active[idx] = last > -_NEGLECT
        start += chunk
        chunk = min(2 * chunk, max(32, 2_000_000 // max(1, int(active.sum()))))
    scale = np.exp(expo) * h / np.pi
    small = np.abs(total) * scale
    dens = dens * scale
    up = np.where(upper, small, 1.0 - small)
    low = np.where(upper, 1.0 - small, small)
    return np.clip(up, 0.0, 1.0), np.clip(low, 0.0, 1.0), dens


def _prepare(eps, sigma0, n, k, estimator):
    e = as_positive(eps, "eps")
    s0 = as_positive(sigma0, "sigma0")
    nn = as_sample_size(n, minimum=2)
    d = divisor(nn, estimator)
    kk = as_generations(k)
    e, s0, kk = np.broadcast_arrays(e, s0, kk)
    return e, s0, kk, nn, d


def _both_tails(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(Pr(Sigma_k > eps), Pr(Sigma_k <= eps)), each with full relative precision."""
    e, s0, kk, nn, d = _prepare(eps, sigma0, n, k, estimator)
    a = _shape(nn)
    # S_k - k E[Y] > 2 log(eps/sigma0) - k E[Y]; centring keeps K small where it matters.
    xc = 2.0 * (np.log(e) - np.log(s0)) - kk * _step_mean(a, d)
    up = np.array(np.where(s0 > e, 1.0, 0.0))
    low = np.array(1.0 - up)
    pos = kk > 0
    if np.any(pos):
        u, lo, _ = _tails(xc[pos].astype(float), kk[pos].astype(float), a)
        up[pos], low[pos] = u, lo
    return up, low


def sigma_tail(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """Exact Pr(Sigma_k > eps), from the law of a sum of k log-chi-square variables.

        Pr(Sigma_k > eps) = Pr(sum_{j<=k} log(chi2_{n-1,j} / d) > 2 log(eps / sigma0)),

    the sum having cumulant generating function k [log Gamma(a+s) - log Gamma(a) + s log(2/d)],
    a = (n-1)/2. It is inverted along a contour through the saddlepoint (see :func:`_tails`).

    Accuracy: relative error below 1e-8 wherever the probability is above 1e-300, for
    2 <= n <= 10^5 and k <= 10^6, in both tails (measured against mpmath's incomplete gamma
    at k = 1 and a 30-digit inversion for k >= 2 in ``tests/theory/test_gaussian_exact_law.py``;
    the worst measured relative error is about 2e-12). Below 1e-300 the result underflows
    towards 0. For the lower tail use :func:`sigma_cdf`, which is computed directly.

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
    return _both_tails(eps, sigma0, n, k, estimator)[0]


def sigma_cdf(
    eps: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """Exact Pr(Sigma_k <= eps), the lower tail, computed directly (not as 1 - tail) with the
    same relative accuracy as :func:`sigma_tail` (below 1e-8 wherever it exceeds 1e-300)."""
    return _both_tails(eps, sigma0, n, k, estimator)[1]


def sigma_quantile(
    q: ArrayLike, sigma0: ArrayLike, n: int, k: ArrayLike, estimator: str = "unbiased"
) -> NDArray[np.float64]:
    """The q-quantile of Sigma_k: sigma0 exp(x/2) with Pr(S_k <= x) = q, S_k = log(Sigma_k^2 /
    sigma0^2); all arguments broadcast together.

    Solved by Newton's method on the logarithm of the smaller tail (Pr(S_k <= x) for q <= 1/2,
    Pr(S_k > x) beyond), which is concave in x because the law of S_k is log-concave (a sum of
    log-gamma variables, each with log-concave density e^{a y - e^y} / Gamma(a)); the
    derivative is the density, a by-product of :func:`_tails`. Iterations stop when the tail
    matches min(q, 1-q) to 1e-12 relative (or x moves by less than 1e-12 (1 + |x|)), so even
    for q near 0 or 1 the tail at the returned quantile is within 1e-10 of the target.
    """
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
        lower = qf <= 0.5
        target = np.log(np.where(lower, qf, 1.0 - qf))
        sd = np.sqrt(kf * float(special.polygamma(1, a)))
        from scipy.stats import norm

        xc = sd * norm.ppf(qf)
        # f(x) = +-(log P(x) - log target), increasing in x; Newton inside a bracket, with
        # bisection (or a stride towards the root while one side is open) as the fallback.
        sign = np.where(lower, 1.0, -1.0)
        lo = np.full(xc.shape, -np.inf)
        hi = np.full(xc.shape, np.inf)
        todo_x = np.ones(xc.shape, dtype=bool)
        for _ in range(200):
            i = np.nonzero(todo_x)[0]
            up, low, dens = _tails(xc[i], kf[i], a)
            p = np.where(lower[i], low, up)
            ok = p > 1e-300
            with np.errstate(divide="ignore"):
                f = sign[i] * (np.log(np.where(ok, p, 1e-300)) - target[i])
            # p underflowed: for the lower tail x is too small (f = -inf), for the upper too big.
            f = np.where(ok, f, np.where(lower[i], -np.inf, np.inf))
            xi = xc[i]
            lo[i] = np.where(f < 0, xi, lo[i])
            hi[i] = np.where(f >= 0, xi, hi[i])
            slope = dens / np.where(ok, p, 1.0)  # d f / dx = f_density / P > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                new = xi - f / slope
            stride = np.maximum(sd[i], 0.5 * np.abs(xi))
            fallback = np.where(
                np.isfinite(lo[i]) & np.isfinite(hi[i]),
                0.5 * (lo[i] + hi[i]),
                np.where(f < 0, xi + stride, xi - stride),
            )
            good = ok & np.isfinite(new) & (new >= lo[i]) & (new <= hi[i])
            new = np.where(good, new, fallback)
            step = new - xi
            xc[i] = new
            # Done when P matches the target to 1e-12 (relative) or x stops moving.
            todo_x[i] = (np.abs(f) > 1e-12) & (np.abs(step) > 1e-12 * (1.0 + np.abs(new)))
            if not np.any(todo_x):
                break
        x = xc + kf * _step_mean(a, d)
        out[todo] = s0[todo] * np.exp(0.5 * x)
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
