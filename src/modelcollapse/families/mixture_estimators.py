"""Estimators of the symmetric two-component Gaussian mixture, batched over trials.

Model (SPEC.md section 4): Y = mu X + s Z with X uniform on {-1, +1} and Z ~ N(0, 1), that is
0.5 N(mu, s^2) + 0.5 N(-mu, s^2), mu >= 0. Both estimators depend on the sample only through the
folded sample u_i = |y_i| (the density is even in y), so the sign pattern of the data never
matters: "all samples of one sign" is not a special case.

Two estimators (Suresh, Thangaraj, Khandavally, "Rate of Model Collapse in Recursive Training",
AISTATS 2025):

- ``joint_ml``: the joint maximum-likelihood estimator of (mu, s). Its stationary points solve
  mu = (1/n) sum_i u_i tanh(mu u_i / s^2) with s^2 = m2 - mu^2, m2 = mean(u^2).
- ``approx_ml``: the paper's approximate joint ML (Algorithm 1, parameter eta > 1, default 2),
  which keeps mu^2 + s^2 = m2 exactly and for which Theorem 4 proves
  Pr(S_k > eps) <= (sigma_0 / eps) exp(-k / (4n)).

Every function takes a (trials, n) array and advances all trials with a fixed number of numpy
passes; there is no per-trial scipy call.

Numerical form. Everything is written around the folded mean ubar = mean(u) and the folded
variance v = mean((u - ubar)^2), which the caller can compute without cancellation even when
mu >> s (the collapsed regime, where ubar / sqrt(v) grows without bound). With mu = ubar + e:

    s^2 = m2 - mu^2 = v - e (2 ubar + e),       e in [-ubar, 0]  (so s^2 in [v, m2]),

which never subtracts two large numbers, and the per-sample log-likelihood is

    l(e) = -0.5 log(2 pi s^2) - (v + e^2) / (2 s^2) + mean(log1p(exp(-2 x_i))) - log 2,
    x_i = mu u_i / s^2.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

#: Algorithm 1, step 3: the value of ``a`` when m2 <= (1 + kappa) mu0^2 (the authors' code).
APPROX_A_LARGE = 50.0
#: Grid points in (0, ubar] on which the sign of the score is read to bracket the roots.
ROOT_GRID = 16
#: Largest number of safeguarded Newton steps per bracket (quadratic convergence: ~6 suffice).
NEWTON_STEPS = 60


# -- approximate joint ML (Algorithm 1) -----------------------------------------------------
def approx_kappa(n: int, eta: float = 2.0) -> float:
    """kappa = exp(c) - 1 with c = (eta-1)((n-1)/2 + 4 eta) / (eta (n-1)(n + 4 eta - 1)).

    Algorithm 1, step 1 (Suresh et al. 2025). eta = 1 gives kappa = 0. Needs n >= 2.
    """
    if n < 2:
        raise ValueError(f"Algorithm 1 needs n >= 2 samples, got n = {n}")
    c = (eta - 1.0) * ((n - 1) / 2.0 + 4.0 * eta) / (eta * (n - 1) * (n + 4.0 * eta - 1.0))
    return math.expm1(c)


def approx_ml_folded(
    ubar: np.ndarray, v: np.ndarray, n: int, eta: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 1 from the folded mean ``ubar`` and folded variance ``v``.

    Steps (mu0 = ubar, m2 = ubar^2 + v, s_s^2 = m2 - mu0^2 = v):

    3. a = 2 (1 + kappa) m2 / (m2 - (1 + kappa) mu0^2) if m2 > (1 + kappa) mu0^2, else 50;
    4. s^2 = a m2 s_s^2 / (a mu0^2 + 2 m2) if m2 <= 2a/(a-2) mu0^2, else s^2 = m2;
    5. mu = sqrt(m2 - s^2).

    Returns
    -------
    (e, s2) with mu = ubar + e. The condition of step 4 is exactly s^2 <= m2, so mu is real.
    An all-zero sample (m2 = 0) returns mu = 0, s = 0.
    """
    kappa = approx_kappa(n, eta)
    ubar2 = ubar * ubar
    m2 = ubar2 + v
    gap = v - kappa * ubar2  # = m2 - (1 + kappa) mu0^2 without cancellation
    safe_gap = np.where(gap > 0, gap, 1.0)
    a = np.where(gap > 0, 2.0 * (1.0 + kappa) * m2 / safe_gap, APPROX_A_LARGE)
    # m2 <= 2a/(a-2) mu0^2  <=>  a (v - mu0^2) <= 2 m2  (a > 2 always)
    inner = a * (v - ubar2) <= 2.0 * m2
    denom = a * ubar2 + 2.0 * m2
    s2 = np.where(inner, a * m2 * v / np.where(denom > 0, denom, 1.0), m2)
    s2 = np.where(m2 > 0, s2, 0.0)
    mu = np.sqrt(np.maximum(m2 - s2, 0.0))
    total = mu + ubar
    e = np.where(total > 0, (v - s2) / np.where(total > 0, total, 1.0), 0.0)
    return e, s2


def approx_ml(y: np.ndarray, eta: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Approximate joint ML (Algorithm 1 of Suresh et al. 2025) of every row of ``y``.

    Parameters
    ----------
    y : (trials, n) samples; each row is one data set.
    eta : the algorithm's parameter, > 1 (the paper's runs use 2).

    Returns
    -------
    (mu, s), each of shape (trials,); always mu^2 + s^2 = mean(y^2) (to rounding).
    """
    u, scale = _folded_unit(y)
    ubar = u.mean(axis=1)
    v = ((u - ubar[:, None]) ** 2).mean(axis=1)
    e, s2 = approx_ml_folded(ubar, v, u.shape[1], eta)
    return scale * np.maximum(ubar + e, 0.0), scale * np.sqrt(s2)


def _folded_unit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|y| divided by its largest entry per row (both estimators are scale-equivariant), so that
    squares and fourth powers neither overflow nor underflow whatever the scale of the data."""
    u = np.abs(np.atleast_2d(np.asarray(y, dtype=float)))
    scale = u.max(axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    return u / scale[:, None], scale


# -- joint ML -------------------------------------------------------------------------------
def _score(
    e: np.ndarray, ubar: np.ndarray, v: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """F(mu) = mean(u tanh(mu u / s^2)) - mu and dF/dmu at mu = ubar + e, s^2 = m2 - mu^2.

    The profile curve L(mu) = l(mu, m2 - mu^2) has dL/dmu = n F (1 + 2 mu^2 / s^2) / s^2, so the
    sign of F is the sign of the slope of the likelihood along the curve of stationary s^2.
    """
    mu = ubar + e
    s2 = v - e * (2.0 * ubar + e)
    x = (mu / s2)[:, None] * u
    omt = 2.0 * expit(-2.0 * x)  # 1 - tanh(x), exact in the far tail where tanh rounds to 1
    f = -(u * omt).mean(axis=1) - e
    sech2 = omt * (2.0 - omt)
    fp = (u * u * sech2).mean(axis=1) * (s2 + 2.0 * mu * mu) / (s2 * s2) - 1.0
    return f, fp


def _loglik(e: np.ndarray, ubar: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Mean log-likelihood per sample at mu = ubar + e, s^2 = m2 - mu^2 (without -log(2 pi)/2)."""
    mu = ubar + e
    s2 = v - e * (2.0 * ubar + e)
    x = (mu / s2)[:, None] * u
    return (
        -0.5 * np.log(s2)
        - (v + e * e) / (2.0 * s2)
        + np.log1p(np.exp(-2.0 * x)).mean(axis=1)
        - math.log(2.0)
    )


def _refine(
    lo: np.ndarray, hi: np.ndarray, ubar: np.ndarray, v: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """The root of F in [lo, hi] (F(lo) >= 0 >= F(hi)), by Newton steps kept inside the bracket.

    A Newton step that leaves the bracket, or one taken where F is increasing (away from a
    maximum of the likelihood), is replaced by bisection; each step shrinks the bracket.
    """
    x = 0.5 * (lo + hi)
    tol = 1e-12 * np.sqrt(v) + 8.0 * np.finfo(float).eps * ubar
    active = np.arange(x.shape[0])
    for _ in range(NEWTON_STEPS):
        xa, la, ha = x[active], lo[active], hi[active]
        f, fp = _score(xa, ubar[active], v[active], u[active])
        pos = f > 0
        la = np.where(pos, xa, la)
        ha = np.where(pos, ha, xa)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xa - f / fp
        ok = (fp < 0) & (newton >= la) & (newton <= ha)
        nxt = np.where(f == 0, xa, np.where(ok, newton, 0.5 * (la + ha)))
        done = (np.abs(nxt - xa) <= tol[active]) | (f == 0) | (ha - la <= tol[active])
        x[active], lo[active], hi[active] = nxt, la, ha
        active = active[~done]
        if active.size == 0:
            break
    return x


def joint_ml_folded(
    ubar: np.ndarray, v: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Joint ML from the folded sample ``u`` = |y| (trials, n), its mean ``ubar`` and variance ``v``.

    Method. Every stationary point of the likelihood lies on s^2 = m2 - mu^2 with
    mu in [0, ubar] (because mu = mean(u tanh(.)) <= mean(u)), where the score F of ``_score``
    vanishes. mu = 0 is always a root. The sign of F is read on a grid of ``ROOT_GRID`` points of
    (0, ubar] (its sign just above 0 is that of 3 m2^2 - m4, from F ~ mu^3 (1 - m4/(3 m2^2)) / m2);
    each + to - change brackets a local maximum. The lowest and the highest such bracket are
    refined by safeguarded Newton steps and the joint ML is the best of mu = 0 and these two
    maxima by likelihood. (A third, intermediate local maximum, or two roots closer than the grid
    spacing, would be missed; neither was ever observed at the sizes the package runs.)

    Degenerate cases (no NaN is ever returned):

    - mu = 0 the only root (or the best one): returns mu = 0, s^2 = m2 (one Gaussian N(0, m2)).
    - s^2 -> 0: cannot happen for a proper sample, since s^2 >= v > 0; when the folded sample is
      constant (v = 0: all |y_i| equal, e.g. n = 1) the likelihood is unbounded and the limit
      mu = ubar, s = 0 is returned; an all-zero sample returns mu = 0, s = 0.
    - mu >> s (collapsed regime): tanh rounds to 1 and the root is mu = ubar, s^2 = v
      (the Gaussian fit of the folded sample), reached without cancellation.

    Returns
    -------
    (e, s2) with mu = ubar + e.
    """
    trials = ubar.shape[0]
    degenerate = ~(v > 0)
    v_safe = np.where(degenerate, 1.0, v)
    ubar_safe = np.where(degenerate, 0.0, ubar)
    m2 = ubar_safe**2 + v_safe
    m4 = (u**4).mean(axis=1)
    m4 = np.where(degenerate, 0.0, m4)
    # sign of F just above mu = 0
    prev_pos = 3.0 * m2 * m2 - m4 > 0
    prev_e = -ubar_safe
    lo_first = np.full(trials, np.nan)
    hi_first = np.full(trials, np.nan)
    lo_last = np.full(trials, np.nan)
    hi_last = np.full(trials, np.nan)
    for j in range(1, ROOT_GRID + 1):
        e_j = -ubar_safe * (1.0 - j / ROOT_GRID)
        f, _ = _score(e_j, ubar_safe, v_safe, u)
        pos = f > 0
        change = prev_pos & ~pos
        first = change & np.isnan(lo_first)
        lo_first = np.where(first, prev_e, lo_first)
        hi_first = np.where(first, e_j, hi_first)
        lo_last = np.where(change, prev_e, lo_last)
        hi_last = np.where(change, e_j, hi_last)
        prev_pos, prev_e = pos, e_j

    best_e = -ubar_safe  # mu = 0
    best_l = -0.5 * np.log(m2) - 0.5
    has = np.flatnonzero(~np.isnan(lo_first))
    two = has[lo_last[has] != lo_first[has]]
    rows = np.concatenate([has, two])
    if rows.size:
        lo = np.concatenate([lo_first[has], lo_last[two]])
        hi = np.concatenate([hi_first[has], hi_last[two]])
        root = _refine(lo, hi, ubar_safe[rows], v_safe[rows], u[rows])
        ll = _loglik(root, ubar_safe[rows], v_safe[rows], u[rows])
        # Candidates of one trial are visited in order; keep the best so far.
        for part in (slice(0, has.size), slice(has.size, rows.size)):
            r = rows[part]
            better = ll[part] > best_l[r]
            best_e[r] = np.where(better, root[part], best_e[r])
            best_l[r] = np.where(better, ll[part], best_l[r])
    s2 = v_safe - best_e * (2.0 * ubar_safe + best_e)
    # v = 0: the likelihood is unbounded at mu = ubar, s -> 0
    e = np.where(degenerate, 0.0, best_e)
    s2 = np.where(degenerate, 0.0, s2)
    return e, s2


def joint_ml(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint maximum-likelihood (mu, s) of 0.5 N(mu, s^2) + 0.5 N(-mu, s^2) for every row of ``y``.

    See ``joint_ml_folded`` for the method and what is returned in degenerate cases (mu = 0 when
    that is the best root; mu = |y_1|, s = 0 for a constant folded sample; never NaN).

    Parameters
    ----------
    y : (trials, n) samples; each row is one data set.

    Returns
    -------
    (mu, s), each of shape (trials,), mu >= 0.
    """
    u, scale = _folded_unit(y)
    ubar = u.mean(axis=1)
    v = ((u - ubar[:, None]) ** 2).mean(axis=1)
    e, s2 = joint_ml_folded(ubar, v, u)
    return scale * np.maximum(ubar + e, 0.0), scale * np.sqrt(s2)


def mean_loglik(y: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Mean log-likelihood per sample of 0.5 N(mu, s^2) + 0.5 N(-mu, s^2), for every row of ``y``.

    For tests and diagnostics: log density = -log(s sqrt(2 pi)) - (y^2 + mu^2) / (2 s^2)
    + log cosh(mu y / s^2).
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    mu = np.asarray(mu, dtype=float)[:, None]
    s2 = np.asarray(s, dtype=float)[:, None] ** 2
    x = np.abs(mu * y / s2)
    logcosh = x + np.log1p(np.exp(-2.0 * x)) - math.log(2.0)
    out = -0.5 * np.log(2.0 * math.pi * s2) - (y * y + mu * mu) / (2.0 * s2) + logcosh
    return out.mean(axis=1)
