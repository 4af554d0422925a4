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
    from scipy.special import expit  # here: scipy.special costs every command's start-up

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


# -- the published code's joint-ML solver (emulation) -----------------------------------------
#: scipy.optimize.fsolve defaults that the published code ran with (MINPACK ``hybrd``): relative
#: step tolerance, initial trust-radius factor, function-evaluation budget 200 (n + 1) for n = 1,
#: forward-difference step sqrt(machine epsilon).
PAPER_XTOL = 1.49012e-08
PAPER_FACTOR = 100.0
PAPER_MAXFEV = 400
#: The published score clamps s^2 = m2 - t^2 below at this value before dividing by it.
PAPER_S2_FLOOR = 1e-20
_EPSMCH = float(np.finfo(float).eps)


def _paper_score(t: np.ndarray, u: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """The function the published code hands to its root finder:
    sum_i u_i tanh(t u_i / max(m2 - t^2, 1e-20)) - n t (SPEC.md section 4, times n)."""
    s2 = np.maximum(m2 - t * t, PAPER_S2_FLOOR)
    return (u * np.tanh((t / s2)[:, None] * u)).sum(axis=1) - u.shape[1] * t


def paper_root(u: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The root t of the joint-ML score that the authors' code reports, for every row of ``u``.

    The published simulations (notebook ``simulations.ipynb`` of the paper's repository) solve
    the joint-ML equation with ``scipy.optimize.fsolve`` started at the *initial* mean mu_0 in
    every generation and keep whatever it returns (convergence is not checked). ``fsolve`` is
    MINPACK's ``hybrd`` (Powell's hybrid method); in one dimension it is: a forward-difference
    derivative, a Newton step clipped to a trust radius, the radius halved after a poor step and
    widened after a good one, a secant (Broyden) update of the derivative after every trial step,
    a fresh finite difference after two poor steps in a row, and scipy's default stopping rules.
    This function runs that algorithm for all rows at once (our transcription, written from the
    algorithm's description; it does not call scipy). On samples of the gmm-collapse and
    gmm-scatter settings it lands on the same root as ``fsolve`` for more than 99.9% of rows
    (``tests/test_mixture_paper_solver.py``).

    Why it matters: t = 0 is always a root, and the score is positive between 0 and the
    likelihood maximum. When the score is still *rising* at the start point the Newton step
    points down and the solver lands on t = 0, i.e. mu = 0, s = sqrt(m2): a single wide Gaussian
    instead of the maximum-likelihood fit. That slows the collapse, and is why the published
    joint-ML curve lies above the global maximiser's.

    Parameters
    ----------
    u : (trials, n) folded samples |y| (the score depends on |y| only).
    start : (trials,) starting points (the published code: mu_0, the generation-0 mean).

    Returns
    -------
    t : (trials,) the reported root (may be negative; the published code takes |t|).
    """
    u = np.asarray(u, dtype=float)
    m = u.shape[0]
    m2 = (u * u).mean(axis=1)
    x = np.broadcast_to(np.asarray(start, dtype=float), (m,)).copy()
    f = _paper_score(x, u, m2)
    fnorm = np.abs(f)
    nfev = np.ones(m, dtype=int)
    accepted = np.zeros(m, dtype=int)  # hybrd's "iter" - 1
    ncsuc = np.zeros(m, dtype=int)
    ncfail = np.zeros(m, dtype=int)
    nslow1 = np.zeros(m, dtype=int)
    nslow2 = np.zeros(m, dtype=int)
    jac = np.zeros(m)
    diag = np.ones(m)
    delta = np.zeros(m)
    xnorm = np.zeros(m)
    fresh = np.zeros(m, dtype=bool)  # the derivative was just recomputed ("jeval")
    need_jac = np.ones(m, dtype=bool)
    active = np.ones(m, dtype=bool)
    h_rel = math.sqrt(_EPSMCH)
    # Each pass costs at least one function evaluation per active row, so MAXFEV passes suffice.
    for _ in range(PAPER_MAXFEV):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        j = a[need_jac[a]]
        if j.size:
            h = h_rel * np.abs(x[j])
            h = np.where(h == 0, h_rel, h)
            jac[j] = (_paper_score(x[j] + h, u[j], m2[j]) - f[j]) / h
            nfev[j] += 1
            col = np.abs(jac[j])
            first = accepted[j] == 0
            # scaling and trust radius are set from the first derivative, then only widened
            diag[j] = np.where(first, np.where(col == 0, 1.0, col), np.maximum(diag[j], col))
            xn = np.abs(diag[j] * x[j])
            xnorm[j] = np.where(first, xn, xnorm[j])
            d0 = PAPER_FACTOR * xn
            delta[j] = np.where(first, np.where(d0 == 0, PAPER_FACTOR, d0), delta[j])
            fresh[j] = True
            need_jac[j] = False
        ja, fa, fn = jac[a], f[a], fnorm[a]
        # Newton step, clipped to the trust radius (the 1-D dogleg)
        newton = -fa / np.where(ja == 0, _EPSMCH, ja)
        clip = np.abs(diag[a] * newton) > delta[a]
        p = np.where(clip, np.sign(newton) * delta[a] / diag[a], newton)
        pnorm = np.abs(diag[a] * p)
        delta[a] = np.where(accepted[a] == 0, np.minimum(delta[a], pnorm), delta[a])
        f1 = _paper_score(x[a] + p, u[a], m2[a])
        nfev[a] += 1
        fn1 = np.abs(f1)
        with np.errstate(divide="ignore", invalid="ignore"):
            actred = np.where(fn1 < fn, 1.0 - (fn1 / fn) ** 2, -1.0)
            predicted = np.abs(fa + ja * p)
            prered = np.where(predicted < fn, 1.0 - (predicted / fn) ** 2, 0.0)
            ratio = np.where(prered > 0, actred / prered, 0.0)
        poor = ratio < 0.1
        ncsuc[a] = np.where(poor, 0, ncsuc[a] + 1)
        ncfail[a] = np.where(poor, ncfail[a] + 1, 0)
        dnew = np.where(poor, 0.5 * delta[a], delta[a])
        dnew = np.where(
            ~poor & ((ratio >= 0.5) | (ncsuc[a] > 1)), np.maximum(dnew, 2 * pnorm), dnew
        )
        delta[a] = np.where(~poor & (np.abs(ratio - 1.0) <= 0.1), 2 * pnorm, dnew)
        take = ratio >= 1e-4
        x[a] = np.where(take, x[a] + p, x[a])
        f[a] = np.where(take, f1, fa)
        fnorm[a] = np.where(take, fn1, fn)
        xnorm[a] = np.where(take, np.abs(diag[a] * x[a]), xnorm[a])
        accepted[a] += take
        nslow1[a] = np.where(actred >= 0.001, 0, nslow1[a] + 1)
        nslow2[a] = np.where(actred >= 0.1, 0, nslow2[a] + fresh[a])
        stop = (delta[a] <= PAPER_XTOL * xnorm[a]) | (fnorm[a] == 0)
        stop |= nfev[a] >= PAPER_MAXFEV
        stop |= 0.1 * np.maximum(0.1 * delta[a], pnorm) <= _EPSMCH * xnorm[a]
        stop |= (nslow2[a] == 5) | (nslow1[a] == 10)
        active[a] = ~stop
        redo = ~stop & (ncfail[a] == 2)
        need_jac[a] = redo
        secant = ~stop & ~redo
        with np.errstate(divide="ignore", invalid="ignore"):
            updated = np.where(p != 0, ja + (f1 - fa - ja * p) / p, ja)
        jac[a] = np.where(secant, updated, ja)
        fresh[a] &= ~secant
    return x


def joint_ml_paper_folded(
    ubar: np.ndarray, v: np.ndarray, u: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The published code's joint-ML fit (``paper_root``) from the folded sample ``u``, its mean
    ``ubar`` and variance ``v``; returns (e, s2) with mu = |t| = ubar + e and
    s^2 = max(m2 - t^2, 0), written as v - e (2 ubar + e) to avoid cancellation.

    In the mixture2 family ``u`` is in units of the current s, so the 1e-20 floor of the score
    acts on s^2 relative to the current one; the published code applied it in absolute units.
    The difference only matters once s is below ~1e-10 mu, far below any threshold eps of the
    package's experiments. An exact s = 0 (t^2 >= m2) is returned as the smallest normal number,
    so that log s^2 stays finite.
    """
    t = np.abs(paper_root(u, start))
    e = t - ubar
    s2 = v - e * (2.0 * ubar + e)
    s2 = np.where(np.isfinite(s2) & (s2 > 0), s2, np.finfo(float).tiny)
    return np.where(np.isfinite(e), e, 0.0), s2


def joint_ml_paper(y: np.ndarray, start: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, s) as the published code's joint-ML solver reports them, for every row of ``y``.

    Not the maximum-likelihood estimator: see ``paper_root``. ``start`` is the solver's starting
    point in the units of ``y`` (the published code: the generation-0 mean mu_0). Computed in
    the units of ``y`` (no rescaling), as the published code does.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    u = np.abs(y)
    t = paper_root(u, np.broadcast_to(np.asarray(start, dtype=float), (u.shape[0],)))
    m2 = (u * u).mean(axis=1)
    return np.abs(t), np.sqrt(np.maximum(m2 - t * t, 0.0))
