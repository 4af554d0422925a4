"""EM for Gaussian mixtures with K components in d dimensions, batched over trials.

One call fits an independent mixture to every trial of a (trials, n, d) sample array: the E and
M steps are numpy operations over the whole batch, so a generation of the ``gmm`` family costs a
few dozen array passes, not one scikit-learn fit per trial (Shumailov et al., "AI models collapse
when trained on recursively generated data", Nature 2024, fitted one ``GaussianMixture`` per
generation; their experiment is a two-component mixture on 1-D data, N = 1000, 2000 generations).

The algorithm is the textbook one (Dempster, Laird, Rubin 1977) with scikit-learn's conventions,
so that ``fit_gmm`` and ``sklearn.mixture.GaussianMixture(covariance_type="full")`` agree:

- Standardisation. Each trial's data are centred and divided by their root-mean-square spread
  (one scalar per trial) before fitting, and the fit is mapped back. The fit is therefore
  equivariant under shifts and scalings of the data, and the covariance floor is relative.
- Initialisation (``init``):
  ``"kmeans"`` (default, as scikit-learn): k-means++ seeding (Arthur and Vassilvitskii 2007,
  one candidate per centre) then Lloyd iterations (at most ``KMEANS_ITER``, until no label
  changes in any trial); the hard labels give the first M step.
  ``"random"``: K distinct data points as centres, each point assigned to its nearest centre.
  ``"warm"``: the first E step uses given parameters (in recursive training, the model that
  generated the data), with the floor added to their covariances.
- Iterations: at most ``max_iter`` (default 100) E+M steps per trial; a trial stops when its
  mean log-likelihood per sample changes by less than ``tol`` (default 1e-3) between two steps.
  Converged trials leave the working set, so late iterations only touch the stragglers.
- Covariance floor: ``reg_covar`` (default 1e-6, in units of the standardised data, i.e.
  relative to the sample's variance) is added to the diagonal of every covariance after each M
  step, and 10 machine epsilons to every component's weight, so an emptied component never
  divides by zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INITS = ("kmeans", "random", "warm")
#: Largest number of Lloyd iterations of the k-means initialisation.
KMEANS_ITER = 30
#: Trials fitted together: small enough for a chunk's (trials, K, n) arrays to stay in cache.
EM_CHUNK = 32
_TINY = 10.0 * np.finfo(float).eps


@dataclass(frozen=True)
class GMMFit:
    """Fitted mixtures of a batch: weights (T, K), means (T, K, d), covs (T, K, d, d)."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    loglik: np.ndarray  # mean log-likelihood per sample at the last E step


def _log_gauss(x: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """log N(x_i; m_k, C_k), shape (T, K, n), for x (T, n, d) with d > 1."""
    d = x.shape[2]
    chol = np.linalg.cholesky(covs)
    inv = np.linalg.inv(chol)
    diff = x[:, None, :, :] - means[:, :, None, :]  # (T, K, n, d)
    sol = np.einsum("tkij,tknj->tkni", inv, diff)
    maha = (sol * sol).sum(axis=3)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(axis=2)
    return -0.5 * (d * math.log(2 * math.pi) + logdet[:, :, None] + maha)


def _features(z: np.ndarray) -> np.ndarray | None:
    """For d = 1: phi = [1, x, x^2] as a contiguous (T, 3, n) array.

    log(w N(x; m, v)) is a quadratic in x, so the E step is one batched product coef @ phi and
    the M step's sums of r, r x, r x^2 one product resp @ phi^T (batched BLAS, few passes).
    """
    if z.shape[2] != 1:
        return None
    x = z[:, :, 0]
    return np.stack([np.ones_like(x), x, x * x], axis=1)


def _m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float, phi=None):
    """Weights, means and covariances from responsibilities ``resp`` of shape (T, K, n)."""
    n, d = x.shape[1], x.shape[2]
    if phi is not None:
        sums = resp @ phi.transpose(0, 2, 1)  # (T, K, 3): sum r, sum r x, sum r x^2
        nk = sums[:, :, 0] + _TINY
        mean = sums[:, :, 1] / nk
        # the data are standardised (mean 0, variance 1), so the raw second moment loses at
        # most log10(1/var) digits; the floor keeps var >= reg_covar
        var = np.maximum(sums[:, :, 2] / nk - mean * mean, 0.0) + reg_covar
        return nk / n, mean[:, :, None], var[:, :, None, None]
    nk = resp.sum(axis=2) + _TINY  # (T, K)
    weights = nk / n
    means = (resp @ x) / nk[:, :, None]
    diff = x[:, None, :, :] - means[:, :, None, :]  # (T, K, n, d)
    covs = np.einsum("tkn,tkni,tknj->tkij", resp, diff, diff) / nk[:, :, None, None]
    covs = covs + reg_covar * np.eye(d)
    return weights, means, covs


def _e_step(x, weights, means, covs, phi=None):
    """Mean log-likelihood per sample (T,) and responsibilities (T, K, n)."""
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    if phi is not None:
        m, v = means[:, :, 0], covs[:, :, 0, 0]
        coef = np.stack(
            [logw - 0.5 * (math.log(2 * math.pi) + np.log(v) + m * m / v), m / v, -0.5 / v],
            axis=2,
        )  # (T, K, 3)
        logp = coef @ phi
    else:
        logp = _log_gauss(x, means, covs) + logw[:, :, None]
    # log-sum-exp over the K rows; reductions over axis 1 run along contiguous rows of n
    top = logp.max(axis=1)
    logp -= top[:, None, :]
    np.exp(logp, out=logp)
    total = logp.sum(axis=1)
    logp /= total[:, None, :]
    return (top + np.log(total)).mean(axis=1), logp


def _nearest(x1_t: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre, argmin_k |c_k|^2 - 2 x.c_k, from one batched product.

    ``x1_t`` is [x; 1] of shape (T, d + 1, n); centres (T, K, d).
    """
    d = centres.shape[2]
    # |c_k|^2 - 2 x.c_k, accumulated coordinate by coordinate (d is small)
    score = (centres * centres).sum(axis=2)[:, :, None] - 2.0 * centres[:, :, 0, None] * x1_t[
        :, None, 0, :
    ]
    for j in range(1, d):
        score -= 2.0 * centres[:, :, j, None] * x1_t[:, None, j, :]
    if score.shape[1] == 2:
        # Two centres (the common case): one comparison pass, the same strict "<" as below,
        # so ties still go to the first centre and the labels are identical.
        return (score[:, 1] < score[:, 0]).astype(np.intp)
    best = score[:, 0]
    labels = np.zeros(best.shape, dtype=np.intp)
    for j in range(1, score.shape[1]):
        better = score[:, j] < best
        best = np.where(better, score[:, j], best)
        labels = np.where(better, j, labels)
    return labels


def _kmeans_labels(x: np.ndarray, k: int, rng: np.random.Generator, plus_plus: bool) -> np.ndarray:
    trials, n, d = x.shape
    rows = np.arange(trials)
    if plus_plus:
        centres = np.empty((trials, k, d))
        centres[:, 0] = x[rows, rng.integers(0, n, trials)]
        d2 = ((x - centres[:, :1]) ** 2).sum(axis=2)
        for j in range(1, k):
            cum = np.cumsum(d2, axis=1)
            target = rng.random(trials) * cum[:, -1]
            idx = np.minimum((cum < target[:, None]).sum(axis=1), n - 1)
            centres[:, j] = x[rows, idx]
            d2 = np.minimum(d2, ((x - centres[:, j : j + 1]) ** 2).sum(axis=2))
        iters = KMEANS_ITER
    else:
        idx = np.argpartition(rng.random((trials, n)), k - 1, axis=1)[:, :k]
        centres = x[rows[:, None], idx]
        iters = 0
    x1_t = np.concatenate([x.transpose(0, 2, 1), np.ones((trials, 1, n))], axis=1)
    labels = _nearest(x1_t, centres)
    comp = np.arange(k)[None, :, None]
    # Lloyd iterations on the trials whose labels still change. A trial whose labels did not
    # change is at a fixed point (its centres, recomputed from the same labels, are the same),
    # so leaving it out gives exactly the labels of iterating the whole chunk, for less work.
    active = np.arange(trials)
    xa, ca, la = x1_t, centres, labels
    for _ in range(iters):
        onehot = (la[:, None, :] == comp).astype(float)  # (A, K, n)
        sums = onehot @ xa.transpose(0, 2, 1)  # (A, K, d + 1): coordinate sums and counts
        counts = sums[:, :, d]
        ca = np.where(
            counts[:, :, None] > 0, sums[:, :, :d] / np.maximum(counts, 1)[:, :, None], ca
        )
        new = _nearest(xa, ca)
        changed = (new != la).any(axis=1)
        labels[active] = new
        if not changed.any():
            break
        active, xa, ca, la = active[changed], xa[changed], ca[changed], new[changed]
    return labels


def fit_gmm(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    init: str = "kmeans",
    warm: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> GMMFit:
    """Fit a K-component full-covariance Gaussian mixture to every trial by EM.

    Parameters
    ----------
    x : (trials, n, d) samples, or (trials, n) for d = 1.
    k : number of components.
    rng : the generator of the random initialisation.
    max_iter, tol, reg_covar, init : see the module docstring.
    warm : (weights, means, covs) of shapes (T, K), (T, K, d), (T, K, d, d); required by
        ``init="warm"``.

    Returns
    -------
    GMMFit in the units of ``x``. Components are in the order the initialisation gave them.
    Trials are fitted ``EM_CHUNK`` at a time (the arrays of a chunk stay in cache, which makes
    the passes several times faster than over the whole batch); the chunk size is fixed, so the
    random initialisation, drawn chunk after chunk from ``rng``, is reproducible.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[:, :, None]
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, not {init!r}")
    if init == "warm" and warm is None:
        raise ValueError("init='warm' needs the starting parameters")
    parts = []
    for lo in range(0, x.shape[0], EM_CHUNK):
        sl = slice(lo, lo + EM_CHUNK)
        w = None if warm is None else tuple(np.asarray(a, dtype=float)[sl] for a in warm)
        parts.append(_fit_chunk(x[sl], k, rng, max_iter, tol, reg_covar, init, w))
    if len(parts) == 1:
        return parts[0]
    return GMMFit(*(np.concatenate(arrays) for arrays in zip(*map(_astuple, parts), strict=True)))


def _astuple(fit: GMMFit) -> tuple[np.ndarray, ...]:
    return (fit.weights, fit.means, fit.covs, fit.n_iter, fit.converged, fit.loglik)


def _fit_chunk(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    max_iter: int,
    tol: float,
    reg_covar: float,
    init: str,
    warm: tuple[np.ndarray, ...] | None,
) -> GMMFit:
    trials, n, d = x.shape
    loc = x.mean(axis=1)  # (T, d)
    scale = np.sqrt(((x - loc[:, None, :]) ** 2).mean(axis=(1, 2)))
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - loc[:, None, :]) / scale[:, None, None]

    feats = _features(z)
    if init == "warm":
        w0, m0, c0 = (np.asarray(a, dtype=float) for a in warm)
        means = (m0 - loc[:, None, :]) / scale[:, None, None]
        covs = c0 / (scale**2)[:, None, None, None] + reg_covar * np.eye(d)
        weights = w0.copy()
    else:
        labels = _kmeans_labels(z, k, rng, plus_plus=init == "kmeans")
        resp = (labels[:, None, :] == np.arange(k)[None, :, None]).astype(float)
        weights, means, covs = _m_step(z, resp, reg_covar, feats)

    n_iter = np.zeros(trials, dtype=np.int64)
    converged = np.zeros(trials, dtype=bool)
    loglik = np.full(trials, -np.inf)
    # the working set: trials still iterating, compacted when it halves
    idx = np.arange(trials)
    zw, ww, mw, cw, fw = z, weights, means, covs, feats
    prev = np.full(trials, -np.inf)
    live = np.ones(trials, dtype=bool)
    for it in range(1, max_iter + 1):
        ll, resp = _e_step(zw, ww, mw, cw, fw)
        ww, mw, cw = _m_step(zw, resp, reg_covar, fw)
        done = np.abs(ll - prev) < tol
        prev = ll
        finished = live & (done | (it == max_iter))
        if finished.any():
            sel = idx[finished]
            weights[sel], means[sel], covs[sel] = ww[finished], mw[finished], cw[finished]
            n_iter[sel] = it
            converged[sel] = done[finished]
            loglik[sel] = ll[finished]
            live = live & ~finished
        if not live.any():
            break
        if live.sum() * 2 <= live.size:
            idx, zw, ww, mw, cw = idx[live], zw[live], ww[live], mw[live], cw[live]
            fw = None if fw is None else fw[live]
            prev, live = prev[live], live[live]

    means = loc[:, None, :] + scale[:, None, None] * means
    covs = (scale**2)[:, None, None, None] * covs
    loglik = loglik - d * np.log(scale)
    return GMMFit(weights, means, covs, n_iter, converged, loglik)


def sample_gmm(
    weights: np.ndarray,
    means: np.ndarray,
    covs: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """n samples per trial from every trial's mixture: (T, n, d).

    Component labels are drawn by inverting each trial's cumulative weights (so the counts per
    component are multinomial), then x = m_label + chol(C_label) z with z ~ N(0, I_d).
    """
    trials, k, d = means.shape
    u = rng.random((trials, n))
    cum = np.cumsum(weights, axis=1)
    cum /= cum[:, -1:]
    labels = np.minimum((u[:, :, None] >= cum[:, None, :-1]).sum(axis=2), k - 1)
    z = rng.standard_normal((trials, n, d))
    m = np.take_along_axis(means, labels[:, :, None], axis=1)
    if d == 1:
        sd = np.sqrt(covs[:, :, 0, 0])
        return m + np.take_along_axis(sd, labels, axis=1)[:, :, None] * z
    chol = np.linalg.cholesky(covs)
    cl = np.take_along_axis(chol, labels[:, :, None, None], axis=1)
    return m + np.einsum("tnij,tnj->tni", cl, z)
