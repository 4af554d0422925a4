"""The worked example of docs/plugins.md: a one-dimensional Gaussian fitted by maximum
likelihood, written as a modelcollapse plug-in."""

from __future__ import annotations

import numpy as np


class GaussianFit:
    """Fit N(mean, variance) to the data; sample from it.

    ``ddof=0`` is maximum likelihood (divisor n), ``ddof=1`` the unbiased variance (n - 1).
    """

    def __init__(self, ddof: int = 0):
        self.ddof = ddof

    def fit(self, data: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
        # data is (n, 1); the fitted model is a new object, the plug-in itself is unchanged.
        x = data[:, 0]
        return float(x.mean()), float(x.var(ddof=self.ddof))

    def sample(self, fitted: tuple[float, float], n: int, rng: np.random.Generator) -> np.ndarray:
        mean, var = fitted
        return mean + np.sqrt(var) * rng.standard_normal((n, 1))

    def log_prob(self, fitted: tuple[float, float], data: np.ndarray) -> np.ndarray:
        mean, var = fitted
        return -0.5 * ((data[:, 0] - mean) ** 2 / var + np.log(2 * np.pi * var))


def model_variance(fitted: tuple[float, float], real: np.ndarray) -> float:
    """A user metric: the variance of the fitted model."""
    return fitted[1]
