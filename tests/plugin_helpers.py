"""Small plug-ins for the plug-in tests (importable as ``plugin_helpers:Name``)."""

from __future__ import annotations

import time

import numpy as np


class GaussianML:
    """N(mean, ML variance) fitted to one-dimensional data: the built-in Gaussian's "ml" law."""

    def fit(self, data, rng):
        x = data[:, 0]
        return (float(x.mean()), float(x.var()))

    def sample(self, fitted, n, rng):
        mu, var = fitted
        return mu + np.sqrt(var) * rng.standard_normal((n, 1))

    def log_prob(self, fitted, data):
        mu, var = fitted
        return -0.5 * ((data[:, 0] - mu) ** 2 / var + np.log(2 * np.pi * var))


class Trivial:
    """Fit and sample do (almost) nothing: measures the loop's own overhead."""

    def fit(self, data, rng):
        return data

    def sample(self, fitted, n, rng):
        return fitted[:n]


class Busy(GaussianML):
    """GaussianML whose fit computes for about ``ms`` milliseconds (CPU, not sleep)."""

    def __init__(self, ms: float = 10.0):
        self.ms = ms

    def fit(self, data, rng):
        end = time.perf_counter() + self.ms / 1000
        a = np.ones((64, 64))
        while time.perf_counter() < end:
            a = np.tanh(a @ a / 64)
        return super().fit(data, rng)


class Failing(GaussianML):
    """GaussianML that goes wrong when asked to sample a model whose mean is beyond ``limit``.

    ``how`` is "raise", "nan" or "shape". Which trial and generation fail first is fixed by the
    seed: the same as where GaussianML's fitted mean first leaves [-limit, limit].
    """

    def __init__(self, how: str = "raise", limit: float = 1.0):
        self.how, self.limit = how, limit

    def describe(self) -> str:
        # Leaves the limit out, as a fix in a plug-in's code would not show in its description:
        # the resumption tests rerun a "fixed" plug-in over the trials a failing one stored.
        return f"Failing(how={self.how!r})"

    def sample(self, fitted, n, rng):
        x = super().sample(fitted, n, rng)
        if abs(fitted[0]) > self.limit:
            if self.how == "raise":
                raise RuntimeError("deliberate failure")
            if self.how == "nan":
                x[3, 0] = np.nan
            if self.how == "shape":
                x = x[:-1]
        return x


def normal_sampler(n, rng):
    """A source callable: n fresh N(0, 1) points."""
    return rng.standard_normal(n)
