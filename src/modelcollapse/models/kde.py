"""A Gaussian kernel density estimator as a plug-in (numpy only).

The model fitted to points x_1..x_n is the mixture (1/n) sum_i N(x_i, H): sampling picks a point
uniformly and adds N(0, H) noise. ``bandwidth`` is either a number h (H = h^2 I) or a rule that
scales the kernel to the data, as scipy.stats.gaussian_kde does: H = c^2 S with S the unbiased
sample covariance (divisor n - 1) and c = n^(-1/(d+4)) (Scott, 1992) or
c = (n (d + 2) / 4)^(-1/(d+4)) (Silverman, 1986).

Its covariance is exact: Cov(model) = S_ml + H, where S_ml is the ML (divisor n) covariance of
the points (law of total variance over the chosen point). ``docs/plugins.md`` derives the
expected variance after k generations of recursive training from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelcollapse.errors import ConfigError

RULES = ("scott", "silverman")


@dataclass(frozen=True)
class KDEFit:
    """A fitted KDE: its points (n, d) and the Cholesky factor of its kernel covariance H."""

    points: np.ndarray
    chol: np.ndarray

    @property
    def kernel_cov(self) -> np.ndarray:
        return self.chol @ self.chol.T

    def covariance(self) -> np.ndarray:
        """Cov of the model: the points' ML covariance plus the kernel's."""
        x = self.points - self.points.mean(axis=0)
        return x.T @ x / len(x) + self.kernel_cov

    def variance(self) -> float:
        """The model's variance (one-dimensional data)."""
        return float(self.covariance()[0, 0])


def bandwidth_factor(rule: str, n: int, d: int) -> float:
    """c of the rule: Scott n^(-1/(d+4)); Silverman (n (d+2)/4)^(-1/(d+4))."""
    if rule == "scott":
        return float(n ** (-1.0 / (d + 4)))
    return float((n * (d + 2) / 4.0) ** (-1.0 / (d + 4)))


class GaussianKDE:
    """Gaussian KDE plug-in with a fixed ``bandwidth`` h or a data-scaled rule."""

    def __init__(self, bandwidth: float | str = "scott"):
        if isinstance(bandwidth, str):
            if bandwidth not in RULES:
                allowed = f"a number > 0 or one of: {', '.join(RULES)}"
                raise ConfigError("bandwidth", bandwidth, allowed)
        else:
            ok = isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool)
            if not ok or not np.isfinite(bandwidth) or bandwidth <= 0:
                allowed = f"a number > 0 or one of: {', '.join(RULES)}"
                raise ConfigError("bandwidth", bandwidth, allowed)
            bandwidth = float(bandwidth)
        self.bandwidth = bandwidth

    def fit(self, data: np.ndarray, rng: np.random.Generator) -> KDEFit:
        x = np.asarray(data, dtype=float)
        n, d = x.shape
        if isinstance(self.bandwidth, float):
            chol = self.bandwidth * np.eye(d)
        else:
            if n < 2:
                raise ValueError("a bandwidth rule needs at least 2 points")
            c = bandwidth_factor(self.bandwidth, n, d)
            s = np.atleast_2d(np.cov(x, rowvar=False))
            chol = c * np.linalg.cholesky(s)
        return KDEFit(x.copy(), chol)

    def sample(self, fitted: KDEFit, n: int, rng: np.random.Generator) -> np.ndarray:
        pts = fitted.points
        pick = rng.integers(len(pts), size=n)
        z = rng.standard_normal((n, pts.shape[1]))
        return pts[pick] + z @ fitted.chol.T

    def log_prob(self, fitted: KDEFit, data: np.ndarray) -> np.ndarray:
        from scipy.linalg import solve_triangular
        from scipy.special import logsumexp

        pts, chol = fitted.points, fitted.chol
        d = pts.shape[1]
        # Whitened differences w = L^-1 (y - x_i):
        # log N(y; x_i, H) = -|w|^2 / 2 - log det L - (d/2) log 2 pi.
        diff = np.asarray(data, dtype=float)[:, None, :] - pts[None, :, :]
        w = solve_triangular(chol, diff.reshape(-1, d).T, lower=True).T.reshape(diff.shape)
        logk = -0.5 * np.einsum("ijk,ijk->ij", w, w)
        const = np.log(np.abs(np.diag(chol))).sum() + 0.5 * d * np.log(2 * np.pi)
        return logsumexp(logk, axis=1) - np.log(len(pts)) - const

    def describe(self) -> str:
        return f"GaussianKDE(bandwidth={self.bandwidth!r})"

    def __repr__(self) -> str:
        return self.describe()
