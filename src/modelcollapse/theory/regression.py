"""Linear regression refitted on its own labels: exact test errors (no Monte Carlo).

Setting (SPEC.md section 7; Dohmatob, Feng and Kempe 2024; Gerstgrasser et al. 2024): T rows of
d isotropic Gaussian features, noise variance sigma^2, OLS refitted each generation on labels
made by the previous weights. Write delta_k = w_k - w_0 and e_j for generation j's noise.

* Replace, fresh design: delta_k = delta_{k-1} + (X_k^T X_k)^{-1} X_k^T e_k, a sum of k
  independent errors, and E tr((X^T X)^{-1}) = d / (T - d - 1) (the inverse-Wishart mean), so
  E||delta_k||^2 = k sigma^2 d / (T - d - 1), finite only for T > d + 1.
* Accumulate, fresh design: with S_k = sum_{j<=k} X_j^T X_j the pooled fit satisfies
  S_k delta_k = S_{k-1} delta_{k-1} + X_k^T X_k delta_{k-1} + X_k^T e_k, i.e.
  delta_k = delta_{k-1} + S_k^{-1} X_k^T e_k (our derivation). The terms are uncorrelated, and
  E[X_j^T X_j | S_j] = S_j / j (the j Wishart summands are exchangeable), so
  E||delta_k||^2 = sigma^2 sum_{j<=k} E tr(S_j^{-1}) / j = sigma^2 d sum_{j<=k} 1/(j (jT - d - 1)),
  exact for every finite T > d + 1. It is at most sigma^2 d/(T-d-1) sum 1/j^2, and tends to
  that bound (<= pi^2/6 times one generation's error) as T grows.
* Fixed design (the same X every generation, G = X^T X): replace gives
  delta_k = delta_{k-1} + G^{-1} X^T e_k, and accumulate (S_k = k G)
  delta_k = delta_{k-1} + G^{-1} X^T e_k / k, so E||delta_k||^2 = sigma^2 tr(G^{-1}) times k or sum_{j<=k} 1/j^2 (Gerstgrasser
  et al. 2024's pi^2/6); averaged over a Gaussian design, tr(G^{-1}) -> d/(T - d - 1). In the
  design's own metric delta^T G delta / T the factor is sigma^2 d / T, whatever X is.
* Ridge on a fixed design, replace (penalty lambda; eigenvalues g_i of G, w_0 in its eigenbasis
  c_i, r_i = g_i / (g_i + lambda)): coordinate i follows w_k = r_i w_{k-1} + noise of variance
  sigma^2 g_i / (g_i + lambda)^2, so
  E||delta_k||^2 = sum_i (1 - r_i^k)^2 c_i^2 + sigma^2 g_i/(g_i + lambda)^2 sum_{j<k} r_i^{2j}.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.errors import ConfigError
from modelcollapse.theory._validate import as_choice, as_generations, as_nonnegative, as_positive

WORKFLOWS = ("replace", "accumulate")
DESIGNS = ("fresh", "fixed")


def _check_dims(d: int, rows: int) -> tuple[int, int]:
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise ConfigError("d", d, "an integer >= 1 (features)")
    if isinstance(rows, bool) or int(rows) != rows or rows <= d + 1:
        raise ConfigError(
            "rows",
            rows,
            f"an integer T > d + 1 = {int(d) + 1} (the expected OLS error is infinite otherwise)",
        )
    return int(d), int(rows)


def _harmonic2(kk: NDArray[np.int64]) -> NDArray[np.float64]:
    top = int(kk.max(initial=0))
    cum = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, top + 1) ** 2)])
    return cum[kk]


def regression_test_error(
    k: ArrayLike,
    *,
    d: int,
    rows: int,
    sigma: float = 1.0,
    workflow: str = "replace",
    design: str = "fresh",
) -> NDArray[np.float64]:
    """E||w_k - w_0||^2 for OLS (module docstring); a fixed design is averaged over its draw.

    replace: k sigma^2 d / (T - d - 1); accumulate, fresh design:
    sigma^2 d sum_{j<=k} 1/(j (jT - d - 1)); accumulate, fixed design:
    sigma^2 d/(T - d - 1) sum_{j<=k} 1/j^2.
    """
    d, rows = _check_dims(d, rows)
    s2 = float(as_positive(sigma, "sigma")) ** 2
    kk = as_generations(k)
    as_choice(workflow, "workflow", WORKFLOWS)
    as_choice(design, "design", DESIGNS)
    one = s2 * d / (rows - d - 1)
    if workflow == "replace":
        return one * kk.astype(float)
    if design == "fixed":
        return one * _harmonic2(kk)
    top = int(kk.max(initial=0))
    j = np.arange(1, top + 1, dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(s2 * d / (j * (j * rows - d - 1)))])
    return cum[kk]


def regression_accumulate_limit(*, d: int, rows: int, sigma: float = 1.0) -> float:
    """sup_k of the accumulate error's bound: (pi^2 / 6) sigma^2 d / (T - d - 1)."""
    d, rows = _check_dims(d, rows)
    s2 = float(as_positive(sigma, "sigma")) ** 2
    return math.pi**2 / 6 * s2 * d / (rows - d - 1)


def regression_error_given_design(
    k: ArrayLike,
    gram: ArrayLike,
    *,
    sigma: float = 1.0,
    workflow: str = "replace",
    metric: str = "test",
    rows: int | None = None,
) -> NDArray[np.float64]:
    """OLS on one fixed design with Gram matrix G = X^T X of T rows (module docstring).

    ``metric="test"``: E||delta_k||^2 = sigma^2 tr(G^{-1}) f_k; ``metric="design"``: the
    in-sample error E[delta_k^T G delta_k] / T = sigma^2 (d / T) f_k, with T = ``rows``;
    f_k = k under replace and sum_{j<=k} 1/j^2 under accumulate.
    """
    g = np.asarray(gram, dtype=float)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or not np.all(np.isfinite(g)):
        raise ConfigError("gram", g.shape, "a finite square matrix X^T X")
    d = g.shape[0]
    try:
        np.linalg.cholesky(g)
    except np.linalg.LinAlgError:
        raise ConfigError("gram", "singular", "a positive definite X^T X (rows >= d)") from None
    s2 = float(as_positive(sigma, "sigma")) ** 2
    kk = as_generations(k)
    as_choice(workflow, "workflow", WORKFLOWS)
    as_choice(metric, "metric", ("test", "design"))
    f = kk.astype(float) if workflow == "replace" else _harmonic2(kk)
    if metric == "test":
        scale = float(np.trace(np.linalg.inv(g)))
    else:
        if rows is None or isinstance(rows, bool) or int(rows) != rows or rows < d:
            raise ConfigError("rows", rows, f"the design's number of rows, an integer >= {d}")
        scale = d / int(rows)
    return s2 * scale * f


def ridge_test_error_fixed(
    k: ArrayLike,
    gram: ArrayLike,
    w0: ArrayLike,
    *,
    penalty: float,
    sigma: float = 1.0,
) -> NDArray[np.float64]:
    """E||w_k - w_0||^2 for ridge with penalty lambda on a fixed design, replace (exact).

    sum_i (1 - r_i^k)^2 c_i^2 + sigma^2 g_i/(g_i + lambda)^2 (1 - r_i^{2k}) / (1 - r_i^2), with
    g_i, c_i the eigenvalues of G and the coordinates of w_0 in its eigenbasis, r_i = g_i/(g_i +
    lambda) (the geometric sum is k terms of 1 when r_i = 1, i.e. lambda = 0).
    """
    g = np.asarray(gram, dtype=float)
    if g.ndim != 2 or g.shape[0] != g.shape[1] or not np.all(np.isfinite(g)):
        raise ConfigError("gram", g.shape, "a finite square matrix X^T X")
    w = np.asarray(w0, dtype=float).ravel()
    if w.shape != (g.shape[0],) or not np.all(np.isfinite(w)):
        raise ConfigError("w0", w.shape, f"{g.shape[0]} finite weights")
    lam = float(as_nonnegative(penalty, "penalty"))
    s2 = float(as_positive(sigma, "sigma")) ** 2
    kk = as_generations(k).astype(float)
    vals, vecs = np.linalg.eigh(g)
    if vals.min() <= 0 and lam == 0:
        raise ConfigError("gram", "singular", "a positive definite X^T X, or a penalty > 0")
    c2 = (vecs.T @ w) ** 2
    r = vals / (vals + lam)
    noise = s2 * vals / (vals + lam) ** 2
    rk = r[None, :] ** kk[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.where(r < 1, (1 - rk**2) / (1 - r**2), kk[..., None])
    return ((1 - rk) ** 2 * c2 + noise * geo).sum(axis=-1)
