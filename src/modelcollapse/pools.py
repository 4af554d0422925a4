"""Training pools: what a generation's estimator sees, kept as additive sufficient statistics.

DESIGN.md: sufficient statistics add (counts add; sizes, sums and centred sums of squares merge),
and so do sample pools (concatenation). Workflows that keep or mix data are therefore pool
algebra: replace = new pool; accumulate = old pool + new pool; mix = fresh real pool + synthetic
pool. These small classes are the pools of the exact families; families without a finite
sufficient statistic use ``SamplePool`` (the raw samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CountPool:
    """Counts of each category (trials, m) — Bernoulli uses m = 2 (failures, successes)."""

    counts: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def __add__(self, other: CountPool) -> CountPool:
        return CountPool(self.counts + other.counts)

    def subsample(self, take: np.ndarray, rng: np.random.Generator) -> CountPool:
        """A uniform subsample without replacement of ``take[t]`` items in trial t: the
        multivariate hypergeometric law, drawn category by category (vectorised over trials)
        as a chain of univariate hypergeometric draws, which is exact."""
        counts = self.counts
        out = np.zeros_like(counts)
        remaining_pool = counts.sum(axis=1)
        remaining_take = np.asarray(take, dtype=np.int64).copy()
        for j in range(counts.shape[1] - 1):
            good = counts[:, j]
            active = (remaining_take > 0) & (good > 0)
            if np.any(active):
                bad = remaining_pool - good
                drawn = np.zeros_like(good)
                drawn[active] = rng.hypergeometric(
                    good[active], bad[active], remaining_take[active]
                )
                out[:, j] = drawn
                remaining_take -= drawn
            remaining_pool -= good
        out[:, -1] = remaining_take
        return CountPool(out)


@dataclass(frozen=True)
class SumPool:
    """Sum of non-negative integer observations and their number (the Poisson statistic)."""

    total: np.ndarray
    size: np.ndarray

    def __add__(self, other: SumPool) -> SumPool:
        return SumPool(self.total + other.total, self.size + other.size)


@dataclass(frozen=True)
class MomentPool:
    """Size, mean and log of the centred sum of squares M2 of real observations.

    Merged with Chan, Golub and LeVeque's (1979) pairwise update
    M2 = M2a + M2b + (mean_b - mean_a)^2 na nb / (na + nb), carried in log space so that pools of a
    collapsing Gaussian (M2 of order 1e-1000) stay representable.
    """

    size: np.ndarray
    mean: np.ndarray
    log_m2: np.ndarray

    def __add__(self, other: MomentPool) -> MomentPool:
        na, nb = self.size, other.size
        n = na + nb
        delta = other.mean - self.mean
        mean = self.mean + delta * nb / n
        with np.errstate(divide="ignore"):
            log_between = 2 * np.log(np.abs(delta)) + np.log(na * nb / n)
        log_m2 = np.logaddexp(np.logaddexp(self.log_m2, other.log_m2), log_between)
        return MomentPool(n, mean, log_m2)


@dataclass(frozen=True)
class SamplePool:
    """Raw samples, (trials, size, ...) — the sample path, for families without a pooled law."""

    samples: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return np.full(self.samples.shape[0], self.samples.shape[1])

    def __add__(self, other: SamplePool) -> SamplePool:
        return SamplePool(np.concatenate([self.samples, other.samples], axis=1))


@dataclass(frozen=True)
class ScatterPool:
    """Size, mean (trials, d) and scatter matrix about the mean of d-dimensional observations.

    The scatter S = sum_i (x_i - mean)(x_i - mean)^T is kept as its Cholesky factor in the
    multivariate Gaussian's state form, S = L L^T with L = U diag(exp(l)), U unit lower
    triangular (``unit``, (trials, d, d)) and l = log diag L (``log_diag``, (trials, d), -inf
    where S is singular, e.g. the scatter of fewer than d + 1 points). Pools merge with the matrix
    form of Chan, Golub and LeVeque's (1979) pairwise update,

        S = Sa + Sb + (mb - ma)(mb - ma)^T na nb / (na + nb),

    applied to the factor as d + 1 rank-one updates of La (the columns of Lb, then the between
    term), never forming S: the factor's entries span whatever range the factors of Sa and Sb
    span (a collapsed covariance has log-diagonals far below the float range), and Givens
    rotations lose no more than rounding relative to the vectors they combine.
    """

    size: np.ndarray
    mean: np.ndarray
    unit: np.ndarray
    log_diag: np.ndarray

    def __add__(self, other: ScatterPool) -> ScatterPool:
        na, nb = self.size, other.size
        n = na + nb
        delta = other.mean - self.mean
        mean = self.mean + delta * (nb / n)[:, None]
        unit, log_diag = self.unit.copy(), self.log_diag.copy()
        d = unit.shape[1]
        for j in range(d):
            column = other.unit[:, :, j]
            cholesky_update(unit, log_diag, other.log_diag[:, j], column)
        with np.errstate(divide="ignore"):
            log_weight = 0.5 * np.log(na * nb / n)
        cholesky_update(unit, log_diag, log_weight, delta)
        return ScatterPool(n, mean, unit, log_diag)


def cholesky_update(
    unit: np.ndarray, log_diag: np.ndarray, log_scale: np.ndarray, direction: np.ndarray
) -> None:
    """In place: the factor (unit, log_diag) of L L^T becomes that of L L^T + x x^T, where
    x = exp(log_scale) * direction (trials, d).

    The classical rank-one update by Givens rotations (e.g. Golub and Van Loan, "Matrix
    Computations", 4th ed., section 6.5.4), rewritten for L = U diag(e^l) and x = e^q y with
    max |y| = 1. At column k, with r^2 = L_kk^2 + x_k^2, the rotation gives

        l_k <- log r,   U_ik <- (L_kk / r)^2 U_ik + x_k x_i / r^2,   x_i <- (L_kk / r)(x_i - x_k U_ik)

    for i > k (U_ik the old value). Every factor is computed from logarithms, so nothing over- or
    underflows unless the result itself does; a column with x_k = 0 is left as it is.
    """
    d = unit.shape[1]
    y = np.array(direction, dtype=float).T.copy()  # (d, trials): reductions across d are cheap
    peak = np.abs(y).max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(peak > 0, log_scale + np.log(peak), -np.inf)
    y /= np.where(peak > 0, peak, 1.0)
    for k in range(d):
        yk = y[k]
        live = (yk != 0) & (q > -np.inf)
        if not live.any():
            continue
        every = bool(live.all())
        lk = log_diag[:, k]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            log_xk = q + np.log(np.abs(yk))
            log_r = 0.5 * np.logaddexp(2.0 * lk, 2.0 * log_xk)
            keep = np.exp(2.0 * (lk - log_r))  # (L_kk / r)^2, 0 where L_kk = 0
            coef = np.copysign(np.exp(log_xk + q - 2.0 * log_r), yk)  # x_k x_i / r^2 = coef y_i
            q_new = q + (lk - log_r)
            yi = y[k + 1 :]
            u_old = unit[:, k + 1 :, k].T
            u_new = keep * u_old + coef * yi
            y_new = yi - yk * u_old
        if every:
            log_diag[:, k] = log_r
            unit[:, k + 1 :, k] = u_new.T
            y[k + 1 :] = y_new
            q = q_new
        else:
            log_diag[:, k] = np.where(live, log_r, lk)
            unit[:, k + 1 :, k] = np.where(live, u_new, u_old).T
            y[k + 1 :] = np.where(live, y_new, yi)
            q = np.where(live, q_new, q)
        y[k] = np.where(live, 0.0, yk)
        if k + 1 < d:
            # Renormalise so that max |y| = 1 again (the rotated remainder may be far smaller).
            peak = np.abs(y[k + 1 :]).max(axis=0)
            with np.errstate(divide="ignore"):
                q = np.where(peak > 0, q + np.log(np.where(peak > 0, peak, 1.0)), -np.inf)
            y[k + 1 :] /= np.where(peak > 0, peak, 1.0)
