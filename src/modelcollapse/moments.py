"""Streaming central moments, merged exactly across blocks of trials.

Each block of trials contributes its count, mean and central sums M2, M3, M4; blocks are merged in
a fixed order with the pairwise formulas of Pebay (2008, "Formulas for robust, one-pass parallel
computation of covariances and arbitrary-order statistical moments", Sandia SAND2008-6212), so the
result does not depend on how trials were grouped in memory and is stable where raw power sums
would cancel catastrophically (log-variances of order -1e5 with spread of order 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """Count, mean and central sums M2..M4 of many series at once (any common shape)."""

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    m3: np.ndarray
    m4: np.ndarray

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> Moments:
        return cls(*(np.zeros(shape) for _ in range(5)))

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        """Moments of ``x`` over its last axis (the trials).

        Power sums of the data shifted by its first value, converted to central sums: the shift
        is one of the data, so the mean of the shifted values is never far outside their spread
        and the conversion loses at most a few digits (relative error of order n * 1e-16), while
        a constant series comes out exactly constant. Two passes allocate; the cubic and quartic
        sums are fused dot products, which is the engine's hot spot.
        """
        count = x.shape[-1]
        shift = x[..., :1]
        y = x - shift
        y2 = y * y
        s1 = y.sum(axis=-1)
        s2 = y2.sum(axis=-1)
        s3 = np.einsum("...i,...i->...", y2, y)
        s4 = np.einsum("...i,...i->...", y2, y2)
        return cls.from_power_sums(count, shift[..., 0], s1, s2, s3, s4)

    @classmethod
    def from_power_sums(
        cls,
        count: int | np.ndarray,
        shift: np.ndarray,
        s1: np.ndarray,
        s2: np.ndarray,
        s3: np.ndarray | None = None,
        s4: np.ndarray | None = None,
    ) -> Moments:
        """Moments from the power sums s_j = sum_i (x_i - shift)^j of ``count`` values.

        Central sums from raw ones (e.g. Pebay 2008, eq. 1.1 expanded binomially):
        M2 = s2 - N m^2, M3 = s3 - 3 m s2 + 2 N m^3, M4 = s4 - 4 m s3 + 6 m^2 s2 - 3 N m^4 with
        m = s1 / N. Without s3 and s4 (series whose variance is not reported) M3 and M4 are
        left at zero; they are then never read (see ``SummaryMoments``).
        """
        n = np.broadcast_to(np.asarray(count, dtype=float), np.shape(s1)).copy()
        m = s1 / n
        mm = m * m
        m2 = s2 - n * mm
        if s3 is None or s4 is None:
            zero = np.zeros(np.shape(s1))
            return cls(n, shift + m, np.maximum(m2, 0.0), zero, zero.copy())
        m3 = s3 - 3 * m * s2 + 2 * n * mm * m
        m4 = s4 - 4 * m * s3 + 6 * mm * s2 - 3 * n * mm * mm
        return cls(n, shift + m, np.maximum(m2, 0.0), m3, np.maximum(m4, 0.0))

    def merge(self, other: Moments, where: tuple | slice | np.ndarray = slice(None)) -> None:
        """Fold ``other`` into ``self[where]`` (in place)."""
        na, nb = self.n[where], other.n
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = other.mean - self.mean[where]
            # Where the accumulator is empty (na = 0) take the other side as it is: the general
            # formula is right there too except when delta is infinite.
            empty = na == 0
            ratio = np.where(n > 0, nb / np.where(n > 0, n, 1), 0.0)
            d1 = np.where(empty, 0.0, delta)
            mean = np.where(empty, other.mean, self.mean[where] + d1 * ratio)
            nanb_n = na * nb / np.where(n > 0, n, 1)
            m2a, m3a = self.m2[where], self.m3[where]
            m2 = m2a + other.m2 + d1**2 * nanb_n
            m3 = (
                m3a
                + other.m3
                + d1**3 * nanb_n * (na - nb) / np.where(n > 0, n, 1)
                + 3 * d1 * (na * other.m2 - nb * m2a) / np.where(n > 0, n, 1)
            )
            m4 = (
                self.m4[where]
                + other.m4
                + d1**4 * nanb_n * (na * na - na * nb + nb * nb) / np.where(n > 0, n * n, 1)
                + 6 * d1**2 * (na * na * other.m2 + nb * nb * m2a) / np.where(n > 0, n * n, 1)
                + 4 * d1 * (na * other.m3 - nb * m3a) / np.where(n > 0, n, 1)
            )
        self.n[where], self.mean[where] = n, mean
        self.m2[where], self.m3[where], self.m4[where] = m2, m3, m4

    def variance(self) -> np.ndarray:
        """Unbiased sample variance (divisor n - 1); NaN for fewer than two values."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 1, self.m2 / np.maximum(self.n - 1, 1), np.nan)

    def stderr_of_mean(self) -> np.ndarray:
        """Standard error of the mean, sqrt(s^2 / n)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self.variance() / self.n)

    def stderr_of_variance(self) -> np.ndarray:
        """Standard error of the sample variance, sqrt((mu4 - s^4 (n-3)/(n-1)) / n).

        The large-sample formula for Var(s^2) (e.g. Cramer 1946, section 27.4), with the fourth
        central moment estimated by M4 / n; clipped at zero for tiny samples.
        """
        n = self.n
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = self.variance()
            mu4 = self.m4 / n
            v = (mu4 - s2 * s2 * (n - 3) / np.maximum(n - 1, 1)) / n
            return np.where(n > 3, np.sqrt(np.maximum(v, 0.0)), np.nan)
