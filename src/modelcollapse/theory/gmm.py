"""Closed-form L2 distance between Gaussian mixture densities.

For f = sum_i a_i N(m_i, A_i) and g = sum_j b_j N(n_j, B_j) in d dimensions,

    ||f - g||_2^2 = sum_ij a_i a_j N(m_i; m_j, A_i + A_j) - 2 sum_ij a_i b_j N(m_i; n_j, A_i + B_j)
                    + sum_ij b_i b_j N(n_i; n_j, B_i + B_j),

because the product of two Gaussian densities integrates to int N(x; m, A) N(x; n, B) dx
= N(m; n, A + B) (e.g. Petersen and Pedersen, "The Matrix Cookbook", section 8.1.8). Used by the
``gmm`` family to measure how far the fitted mixture has drifted from the generation-0 mixture.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _cross(
    wa: np.ndarray, ma: np.ndarray, ca: np.ndarray, wb: np.ndarray, mb: np.ndarray, cb: np.ndarray
) -> np.ndarray:
    """sum_ij wa_i wb_j N(ma_i; mb_j, Ca_i + Cb_j) over the leading (batch) axes."""
    d = ma.shape[-1]
    cov = ca[..., :, None, :, :] + cb[..., None, :, :, :]  # (..., Ka, Kb, d, d)
    diff = ma[..., :, None, :] - mb[..., None, :, :]  # (..., Ka, Kb, d)
    if d == 1:
        var = cov[..., 0, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            logn = -0.5 * (math.log(2 * math.pi) + np.log(var) + diff[..., 0] ** 2 / var)
    else:
        sign, logdet = np.linalg.slogdet(cov)
        sol = np.linalg.solve(cov, diff[..., None])[..., 0]
        maha = (diff * sol).sum(axis=-1)
        logn = -0.5 * (d * math.log(2 * math.pi) + logdet + maha)
        logn = np.where(sign > 0, logn, np.inf)
    w = wa[..., :, None] * wb[..., None, :]
    return (w * np.exp(logn)).sum(axis=(-2, -1))


def gmm_l2_sq(
    weights_a: ArrayLike,
    means_a: ArrayLike,
    covs_a: ArrayLike,
    weights_b: ArrayLike,
    means_b: ArrayLike,
    covs_b: ArrayLike,
) -> NDArray[np.float64]:
    """Squared L2 distance int (f - g)^2 between two Gaussian mixtures, batched.

    Parameters
    ----------
    weights_a, means_a, covs_a : mixture f, shapes (..., K, ), (..., K, d), (..., K, d, d);
        leading axes (trials) broadcast against those of g.
    weights_b, means_b, covs_b : mixture g, likewise.

    Returns
    -------
    The squared distance, shape of the broadcast leading axes. Exact up to the rounding of the
    three sums (it can come out a few ulps below 0 when f = g).
    """
    wa, ma, ca = (np.asarray(a, dtype=float) for a in (weights_a, means_a, covs_a))
    wb, mb, cb = (np.asarray(a, dtype=float) for a in (weights_b, means_b, covs_b))
    return (
        _cross(wa, ma, ca, wa, ma, ca)
        - 2.0 * _cross(wa, ma, ca, wb, mb, cb)
        + _cross(wb, mb, cb, wb, mb, cb)
    )


def gmm_l2(*args: ArrayLike) -> NDArray[np.float64]:
    """L2 distance ||f - g||_2 (see ``gmm_l2_sq`` for the arguments)."""
    return np.sqrt(np.maximum(gmm_l2_sq(*args), 0.0))
