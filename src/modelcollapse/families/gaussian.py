"""One-dimensional Gaussian N(mu, sigma^2) refitted by mean and variance.

Exact step (SPEC.md section 2): the sample mean is N(mu, sigma^2 / n), independent of the scatter
SS ~ sigma^2 chi2_{n-1}; sigma'^2 = SS / d with d = n (``ml``) or d = n - 1 (``unbiased``, the
paper's choice: its code uses ddof=1). The state carries log sigma^2, so that
log Sigma_k^2 = log sigma_0^2 + sum_j log(chi2_{n-1,j} / d) never underflows, however long the run.

Scale only: a run that reads nothing but Sigma_k (its moments, Pr(Sigma_k > eps), the hitting
times of Sigma_k < eps) under replace does not need the mean, since the chain of log Sigma_k^2
does not depend on it (``Gaussian.observing``). Its exact step then draws only the Gamma variate,
the one draw that chain needs: about 1.6 times fewer random numbers' worth of time per
trial-generation. Its stream differs from a run that also reads the mean (same law, other draws).

Sampler stage: a truncation factor psi (``samplers.Truncation``) draws the samples from
N(mu, psi^2 sigma^2), so every path (exact, naive, pools, samples) simply samples from the state
with log sigma^2 + 2 ln psi: the exact step stays exact, and the log-variance drifts by
2 ln psi + E[log(chi2_{n-1} / d)] per generation (SPEC.md section 7).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from modelcollapse import limits
from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Event, Family, Observable, check_finite, requested_rows
from modelcollapse.pools import MomentPool


@dataclass(frozen=True)
class GaussianState:
    mu: np.ndarray
    log_sigma2: np.ndarray
    #: Sigma_k = exp(log_sigma2 / 2) where already computed (the exact step computes it once
    #: for its own next step and for the observables that need it); None: not yet known.
    sigma: np.ndarray | None = field(default=None, compare=False, repr=False)

    def scale(self) -> np.ndarray:
        """Sigma_k per trial (may be the state's own array: do not modify it)."""
        return np.exp(0.5 * self.log_sigma2) if self.sigma is None else self.sigma


def eps_label(eps: float) -> str:
    return f"sigma_above[eps={eps:g}]"


def below_label(eps: float) -> str:
    """Name of the event "the scale is below eps" (its hitting time is time_to[sigma<eps])."""
    return f"sigma<{eps:g}"


def scale_events(eps: Sequence[float], what: str = "Sigma_k") -> tuple[Event, ...]:
    return tuple(
        Event(below_label(e), doc=f"{what} < {e:g} (first passage)", absorbing=False) for e in eps
    )


def scale_hits(log_scale2: np.ndarray, eps: Sequence[float], rows: Sequence[int]) -> np.ndarray:
    """Whether log(scale^2) < log(eps^2), per requested threshold."""
    return np.stack([log_scale2 < 2.0 * math.log(eps[r]) for r in rows])


@dataclass(frozen=True)
class Gaussian(Family):
    """Gaussian family. ``eps`` lists thresholds for ``sigma_above[eps=...]`` = Pr(Sigma_k > eps)."""

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

    sampler_stages: ClassVar[tuple[str, ...]] = ("Truncation",)
    #: The observables that read only Sigma_k (``observing``); the eps indicators too.
    SCALE_OBSERVABLES: ClassVar[frozenset[str]] = frozenset({"sigma", "log_sigma2", "sigma2"})

    @property
    def scale_only(self) -> bool:
        """Whether this copy skips the mean (see :meth:`observing`)."""
        return bool(self.__dict__.get("_scale_only", False))

    def observing(self, observables: Sequence[str]) -> Gaussian:
        eps = {eps_label(e) for e in self.eps}
        if not all(o in self.SCALE_OBSERVABLES or o in eps for o in observables):
            return self
        out = copy.copy(self)
        object.__setattr__(out, "_scale_only", True)
        return out

    def _drawn(self, state: GaussianState) -> GaussianState:
        """The law the samples come from: the state itself, or its scale times psi."""
        s = self.sampler
        if s is None:
            return state
        return GaussianState(state.mu, state.log_sigma2 + 2.0 * math.log(s.scale))

    def divisor(self, n: int) -> int:
        return n if self.estimator == "ml" else n - 1

    def check_n(self, n: int) -> None:
        if n < 2:
            raise ConfigError("n", n, "the Gaussian family needs n >= 2 samples per generation")
        limits.check_float_scale(n, self.mu, self.sigma, self.name)

    def initial_state(self, trials: int) -> GaussianState:
        # Scale only: the mean is not tracked, and NaN says so to anything that reads it.
        mu = np.full(trials, math.nan if self.scale_only else self.mu)
        return GaussianState(mu, np.full(trials, 2.0 * math.log(self.sigma)))

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
        state = self._drawn(state)
        # M' = M + Sigma Z / sqrt(n) and log Sigma'^2 = log Sigma^2 + log(2 G / d) with
        # Z ~ N(0, 1), G ~ Gamma((n-1)/2) (so 2G ~ chi2_{n-1}): the same law as _refit, written
        # as in-place passes because this is the engine's hottest loop.
        trials = state.mu.shape[0]
        if self.scale_only:
            mu = state.mu  # not tracked (NaN): the chain of log Sigma_k^2 does not need it
            g = rng.standard_gamma(0.5 * (n - 1), trials)
        else:
            z = rng.standard_normal(trials)
            g = rng.standard_gamma(0.5 * (n - 1), trials)
            mu = state.scale() * z
            mu *= 1.0 / math.sqrt(n)
            mu += state.mu
        if n >= 4:
            # Shape > 1: numpy draws by Marsaglia and Tsang's method, which only returns values
            # > 0 (it rejects v <= 0; shape 1 and below use other methods), so log cannot
            # divide by zero and the errstate context (about 1% of this step) is not needed.
            np.log(g, out=g)
        else:
            with np.errstate(divide="ignore"):
                np.log(g, out=g)
        g += state.log_sigma2
        g += math.log(2.0 / self.divisor(n))
        sigma = np.multiply(g, 0.5)
        np.exp(sigma, out=sigma)  # underflows to 0 exactly where exp(log Sigma^2 / 2) does
        return GaussianState(mu, g, sigma)

    def step_naive(self, state: GaussianState, n: int, rng: np.random.Generator) -> GaussianState:
        state = self._drawn(state)
        z = rng.standard_normal((state.mu.shape[0], n))
        zbar = z.mean(axis=1)
        ss = ((z - zbar[:, None]) ** 2).sum(axis=1)
        return self._refit(state, zbar, ss, n)

    has_pools: ClassVar[bool] = True

    def draw_pool(
        self, state: GaussianState, n: int, rng: np.random.Generator, method: str
    ) -> MomentPool:
        state = self._drawn(state)
        trials = state.mu.shape[0]
        if method == "exact":
            zbar = rng.standard_normal(trials) / math.sqrt(n)
            ss = 2.0 * rng.standard_gamma(0.5 * (n - 1), trials) if n > 1 else np.zeros(trials)
        else:
            z = rng.standard_normal((trials, n))
            zbar = z.mean(axis=1)
            ss = ((z - zbar[:, None]) ** 2).sum(axis=1)
        with np.errstate(divide="ignore"):
            log_m2 = state.log_sigma2 + np.log(ss)
        return MomentPool(
            np.full(trials, float(n)), state.mu + np.exp(0.5 * state.log_sigma2) * zbar, log_m2
        )

    def fit_pool(self, pool: MomentPool) -> GaussianState:
        size = pool.size
        d = size if self.estimator == "ml" else size - 1
        return GaussianState(pool.mean.copy(), pool.log_m2 - np.log(d))

    def sample(self, state: GaussianState, n: int, rng: np.random.Generator) -> np.ndarray:
        state = self._drawn(state)
        z = rng.standard_normal((state.mu.shape[0], n))
        return state.mu[:, None] + np.exp(0.5 * state.log_sigma2)[:, None] * z

    def fit_samples(self, samples: np.ndarray) -> GaussianState:
        size = samples.shape[1]
        mean = samples.mean(axis=1)
        ss = ((samples - mean[:, None]) ** 2).sum(axis=1)
        with np.errstate(divide="ignore"):
            return GaussianState(mean, np.log(ss) - math.log(self.divisor(size)))

    def observables(self) -> tuple[Observable, ...]:
        base = (
            Observable("mu", moments=True, doc="mean parameter M_k"),
            Observable("sigma", moments=True, doc="standard deviation Sigma_k"),
            Observable("log_sigma2", moments=True, doc="log Sigma_k^2"),
            Observable("sigma2", moments=True, doc="variance Sigma_k^2"),
            # Distances to the start: on request (metrics=[...] or "all"), not by default.
            # Three more observables with fourth moments cost about a quarter of a run.
            Observable("mean_shift_sq", moments=True, doc="(M_k - mu_0)^2", default=False),
            Observable(
                "w2_from_start",
                moments=True,
                doc="2-Wasserstein distance to N(mu_0, sigma_0^2)",
                default=False,
            ),
            Observable(
                "kl_from_start",
                moments=True,
                doc="KL(N(M_k, Sigma_k^2) || N(mu_0, sigma_0^2)) in nats",
                default=False,
            ),
        )
        return base + tuple(
            Observable(eps_label(e), doc=f"Pr(Sigma_k > {e:g})", indicator=True) for e in self.eps
        )

    def observe(self, state: GaussianState, rows: Sequence[int] | None = None) -> np.ndarray:
        # Only the requested rows are computed, each shared intermediate (Sigma_k, the squared
        # mean shift) once: this runs every recorded generation of every block.
        s0, log_s0_sq = self.sigma, 2 * math.log(self.sigma)
        ls = state.log_sigma2
        cache: dict[str, np.ndarray] = {}

        def shift() -> np.ndarray:
            if "shift" not in cache:
                d = state.mu - self.mu
                cache["shift"] = d * d
            return cache["shift"]

        def sigma() -> np.ndarray:
            return state.scale()  # the exact step's own Sigma_k where it has one

        def sigma2() -> np.ndarray:
            if "sigma2" not in cache:
                cache["sigma2"] = np.exp(ls)
            return cache["sigma2"]

        def w2() -> np.ndarray:
            d = sigma() - s0
            d *= d
            d += shift()
            return np.sqrt(d, out=d)

        def kl() -> np.ndarray:
            # KL(N(m, s^2) || N(mu0, s0^2)) = log(s0/s) + (s^2 + (m - mu0)^2) / (2 s0^2) - 1/2
            out = sigma2() + shift()
            out *= 0.5 / (s0 * s0)
            out -= 0.5 * ls
            out += 0.5 * log_s0_sq - 0.5
            return out

        compute = [lambda: state.mu, sigma, lambda: ls, sigma2, shift, w2, kl]
        thresholds = [2.0 * math.log(e) for e in self.eps]
        compute += [(lambda t=t: (ls > t).astype(float)) for t in thresholds]
        return requested_rows(compute, rows, ls.shape[0])

    def events(self) -> tuple[Event, ...]:
        return scale_events(self.eps)

    def hits(self, state: GaussianState, rows: Sequence[int]) -> np.ndarray:
        return scale_hits(state.log_sigma2, self.eps, rows)

    @property
    def terminal_event(self) -> str | None:
        return below_label(min(self.eps)) if self.eps else None

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("mu", "sigma", "log_sigma2")

    def trajectory(self, state: GaussianState) -> np.ndarray:
        return np.stack([state.mu, state.scale(), state.log_sigma2])

    def state_elements(self) -> int:
        return 2
