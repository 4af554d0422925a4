"""One-dimensional Gaussian N(mu, sigma^2) refitted by mean and variance.

Exact step (SPEC.md section 2): the sample mean is N(mu, sigma^2 / n), independent of the scatter
SS ~ sigma^2 chi2_{n-1}; sigma'^2 = SS / d with d = n (``ml``) or d = n - 1 (``unbiased``, the
paper's choice: its code uses ddof=1). The state carries log sigma^2, so that
log Sigma_k^2 = log sigma_0^2 + sum_j log(chi2_{n-1,j} / d) never underflows, however long the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Family, Observable, check_finite


@dataclass(frozen=True)
class GaussianState:
    mu: np.ndarray
    log_sigma2: np.ndarray


def eps_label(eps: float) -> str:
    return f"collapse_prob[eps={eps:g}]"


@dataclass(frozen=True)
class Gaussian(Family):
    """Gaussian family. ``eps`` lists thresholds for ``collapse_prob[eps=...]`` = Pr(Sigma_k > eps)."""

    name: ClassVar[str] = "gaussian"
    estimators: ClassVar[tuple[str, ...]] = ("unbiased", "ml")

    mu: float = 0.0
    sigma: float = 1.0
    estimator: str = "unbiased"
    eps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "mu", check_finite("mu", self.mu))
        object.__setattr__(self, "sigma", check_finite("sigma", self.sigma, low=0.0, low_open=True))
        eps = tuple(check_finite("eps", e, low=0.0, low_open=True) for e in self.eps)
        object.__setattr__(self, "eps", eps)

    def divisor(self, n: int) -> int:
        return n if self.estimator == "ml" else n - 1

    def check_n(self, n: int) -> None:
        if n < 2:
            raise ConfigError("n", n, "the Gaussian family needs n >= 2 samples per generation")

    def initial_state(self, trials: int) -> GaussianState:
        return GaussianState(np.full(trials, self.mu), np.full(trials, 2.0 * math.log(self.sigma)))

    def _refit(
        self, state: GaussianState, zbar: np.ndarray, ss: np.ndarray, n: int
    ) -> GaussianState:
        # zbar and ss are the mean and scatter of standard normal samples; the estimator is
        # location-scale equivariant, so scaling them by the current sigma is exact and never
        # forms sigma itself when it is below the float range.
        sigma = np.exp(0.5 * state.log_sigma2)
        with np.errstate(divide="ignore"):
            log_ss = np.log(ss)
        return GaussianState(
            state.mu + sigma * zbar, state.log_sigma2 + log_ss - math.log(self.divisor(n))
        )

    def step_exact(self, state: GaussianState, n: int, rng: np.random.Generator) -> GaussianState:
        trials = state.mu.shape[0]
        zbar = rng.standard_normal(trials) / math.sqrt(n)
        ss = 2.0 * rng.standard_gamma(0.5 * (n - 1), trials)  # chi2_{n-1}
        return self._refit(state, zbar, ss, n)

    def step_naive(self, state: GaussianState, n: int, rng: np.random.Generator) -> GaussianState:
        z = rng.standard_normal((state.mu.shape[0], n))
        zbar = z.mean(axis=1)
        ss = ((z - zbar[:, None]) ** 2).sum(axis=1)
        return self._refit(state, zbar, ss, n)

    def observables(self) -> tuple[Observable, ...]:
        base = (
            Observable("mu", moments=True, doc="mean parameter M_k"),
            Observable("sigma", moments=True, doc="standard deviation Sigma_k"),
            Observable("log_sigma2", moments=True, doc="log Sigma_k^2"),
        )
        return base + tuple(Observable(eps_label(e), doc=f"Pr(Sigma_k > {e:g})") for e in self.eps)

    def observe(self, state: GaussianState) -> np.ndarray:
        rows = [state.mu, np.exp(0.5 * state.log_sigma2), state.log_sigma2]
        rows += [(state.log_sigma2 > 2.0 * math.log(e)).astype(float) for e in self.eps]
        return np.stack(rows)

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("mu", "sigma", "log_sigma2")

    def trajectory(self, state: GaussianState) -> np.ndarray:
        return np.stack([state.mu, np.exp(0.5 * state.log_sigma2), state.log_sigma2])

    def state_elements(self) -> int:
        return 2
