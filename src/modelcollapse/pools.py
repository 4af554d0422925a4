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
