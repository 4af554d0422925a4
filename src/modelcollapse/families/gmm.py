"""General Gaussian mixture, K components in d dimensions, refitted each generation by EM.

Beyond the paper (SPEC.md section 2): this is the experiment of Shumailov et al., "AI models
collapse when trained on recursively generated data" (Nature 2024), in which a two-component
mixture is fitted to N = 1000 one-dimensional samples of the previous fit for 2000 generations.
There is no sufficient statistic: each generation draws n samples per trial from every trial's
mixture and refits all trials at once with the batched EM of ``modelcollapse.families.em``.
Workflows other than replace keep the raw samples (``sample``, ``fit_samples``).

Components are unordered; after every fit they are sorted by the first coordinate of their mean,
so that ``weight0``, ``mean0`` and ``std0`` always describe the leftmost component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import (
    BLOCK_ELEMENTS,
    Family,
    Observable,
    check_finite,
    check_real_list,
)
from modelcollapse.families.categorical import check_probabilities
from modelcollapse.families.em import INITS, fit_gmm, sample_gmm
from modelcollapse.families.gaussian import eps_label

#: Largest trial-block of the EM: its (trials, n, K) arrays stay within a few hundred MiB.
GMM_BLOCK_TRIALS = 1024


@dataclass(frozen=True)
class GMMState:
    weights: np.ndarray  # (T, K)
    means: np.ndarray  # (T, K, d)
    covs: np.ndarray  # (T, K, d, d)


def _as_array(name: str, value: Any) -> np.ndarray:
    check_real_list(name, value)  # strict: no bools or strings coerced to numbers
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(name, value, "a list of numbers (or of lists of numbers)") from None
    if not np.all(np.isfinite(arr)):
        raise ConfigError(name, float(arr[~np.isfinite(arr)][0]), "finite numbers")
    return arr


def check_covariances(covs: Any, k: int, d: int, name: str = "covs") -> np.ndarray:
    """K symmetric positive-definite d x d matrices (a K-list of numbers when d = 1)."""
    arr = _as_array(name, covs)
    if d == 1 and arr.shape == (k,):
        arr = arr.reshape(k, 1, 1)
    if arr.shape != (k, d, d):
        raise ConfigError(name, list(arr.shape), f"{k} matrices of shape {d}x{d}")
    if not np.allclose(arr, arr.transpose(0, 2, 1), rtol=1e-10, atol=0.0):
        raise ConfigError(name, "not symmetric", "symmetric matrices")
    try:
        np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        raise ConfigError(name, "not positive definite", "positive-definite matrices") from None
    return arr


@dataclass(frozen=True, eq=False)
class GMM(Family):
    """Gaussian mixture family fitted by EM.

    Parameters
    ----------
    weights : K component weights (>= 0, summing to 1).
    means : K means, each a list of d numbers (or K numbers for d = 1).
    covs : K covariance matrices d x d (or K variances for d = 1); or give ``stds`` instead.
    stds : K standard deviations, covariance std_k^2 I (the default: all 1).
    max_iter, tol, reg_covar, init : EM settings (``modelcollapse.families.em``): at most
        ``max_iter`` iterations (default 100), stop when the mean log-likelihood changes by less
        than ``tol`` (1e-3), covariance floor ``reg_covar`` (1e-6, relative to the data's
        variance), initialisation ``"kmeans"`` (default), ``"random"`` or ``"warm"`` (start
        from the model that generated the data).
    eps : thresholds for ``sigma_above[eps=...]`` = Pr(max_k std_k > eps), where
        std_k = sqrt(trace(C_k) / d): the probability that some component still has spread.
    """

    name: ClassVar[str] = "gmm"
    estimators: ClassVar[tuple[str, ...]] = ("em",)
    has_exact: ClassVar[bool] = False

    weights: Any = (0.5, 0.5)
    means: Any = (-1.0, 1.0)
    covs: Any = None
    stds: Any = None
    estimator: str = "em"
    max_iter: int = 100
    tol: float = 1e-3
    reg_covar: float = 1e-6
    init: str = "kmeans"
    eps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        weights = check_probabilities(self.weights, "weights")
        k = weights.shape[0]
        means = _as_array("means", self.means)
        if means.ndim == 1:
            means = means[:, None]
        if means.ndim != 2 or means.shape[0] != k or means.shape[1] < 1:
            raise ConfigError(
                "means", list(means.shape), f"{k} means (one per weight), each a list of d numbers"
            )
        d = means.shape[1]
        if self.covs is not None and self.stds is not None:
            raise ConfigError("params", "covs and stds", "give covs or stds, not both")
        if self.stds is not None:
            stds = _as_array("stds", self.stds).ravel()
            if stds.shape != (k,):
                raise ConfigError("stds", list(stds.shape), f"{k} standard deviations")
            if np.any(stds <= 0):
                raise ConfigError("stds", float(stds[stds <= 0][0]), "standard deviations > 0")
            covs = (stds**2)[:, None, None] * np.eye(d)
        elif self.covs is not None:
            covs = check_covariances(self.covs, k, d)
        else:
            covs = np.broadcast_to(np.eye(d), (k, d, d)).copy()
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "covs", covs)
        object.__setattr__(self, "stds", None)
        if isinstance(self.max_iter, bool) or not float(self.max_iter).is_integer():
            raise ConfigError("max_iter", self.max_iter, "an integer >= 1")
        max_iter = int(check_finite("max_iter", self.max_iter, low=1, allowed="an integer >= 1"))
        object.__setattr__(self, "max_iter", max_iter)
        object.__setattr__(self, "tol", check_finite("tol", self.tol, low=0.0, low_open=True))
        object.__setattr__(
            self, "reg_covar", check_finite("reg_covar", self.reg_covar, low=0.0, low_open=True)
        )
        if self.init not in INITS:
            raise ConfigError("init", self.init, f"one of: {', '.join(INITS)}")
        eps = tuple(check_finite("eps", e, low=0.0, low_open=True) for e in self.eps)
        object.__setattr__(self, "eps", eps)

    @property
    def k(self) -> int:
        return int(self.weights.shape[0])

    @property
    def d(self) -> int:
        return int(self.means.shape[1])

    def check_n(self, n: int) -> None:
        if n < max(2, self.k):
            raise ConfigError(
                "n", n, f"the gmm family needs n >= max(2, K) = {max(2, self.k)} samples"
            )

    def initial_state(self, trials: int) -> GMMState:
        order = np.argsort(self.means[:, 0], kind="stable")
        return GMMState(
            np.tile(self.weights[order], (trials, 1)),
            np.tile(self.means[order], (trials, 1, 1)),
            np.tile(self.covs[order], (trials, 1, 1, 1)),
        )

    def step_exact(self, state: GMMState, n: int, rng: np.random.Generator) -> GMMState:
        raise NotImplementedError("gmm has no finite sufficient statistic: use method='naive'")

    def step_naive(self, state: GMMState, n: int, rng: np.random.Generator) -> GMMState:
        return self.refit_samples(self.sample(state, n, rng), state, rng)

    # -- raw samples, for the sample-path workflows (modelcollapse.workflows) ---------------
    def sample(self, state: GMMState, n: int, rng: np.random.Generator) -> np.ndarray:
        """(trials, n, d) samples of every trial's mixture."""
        return sample_gmm(state.weights, state.means, state.covs, n, rng)

    def fit_samples(
        self,
        samples: np.ndarray,
        rng: np.random.Generator | None = None,
        previous: GMMState | None = None,
    ) -> GMMState:
        """EM on raw samples (trials, N, d) of any size N >= K, components sorted by the first
        coordinate of their means. ``rng`` drives the random initialisation (default: a fixed
        seed, 0); ``previous`` is the warm start of ``init="warm"`` (default: the generation-0
        mixture)."""
        if rng is None:
            rng = np.random.default_rng(0)
        if previous is None:
            previous = self.initial_state(samples.shape[0])
        fit = fit_gmm(
            samples,
            self.k,
            rng,
            max_iter=self.max_iter,
            tol=self.tol,
            reg_covar=self.reg_covar,
            init=self.init,
            warm=(previous.weights, previous.means, previous.covs),
        )
        order = np.argsort(fit.means[:, :, 0], axis=1, kind="stable")
        return GMMState(
            np.take_along_axis(fit.weights, order, axis=1),
            np.take_along_axis(fit.means, order[:, :, None], axis=1),
            np.take_along_axis(fit.covs, order[:, :, None, None], axis=1),
        )

    def refit_samples(
        self, samples: np.ndarray, previous: GMMState, rng: np.random.Generator
    ) -> GMMState:
        return self.fit_samples(samples, rng, previous)

    # -- reporting ------------------------------------------------------------------------
    def _mean_names(self) -> list[str]:
        if self.d == 1:
            return [f"mean{k}" for k in range(self.k)]
        return [f"mean{k}_{j}" for k in range(self.k) for j in range(self.d)]

    def observables(self) -> tuple[Observable, ...]:
        obs = [
            Observable(
                "l2_dist",
                moments=True,
                doc="L2 distance between the fitted and the generation-0 mixture densities",
            )
        ]
        obs += [Observable(f"weight{k}", moments=True) for k in range(self.k)]
        obs += [Observable(m, moments=True) for m in self._mean_names()]
        obs += [
            Observable(f"std{k}", moments=True, doc="sqrt(trace(C_k) / d)") for k in range(self.k)
        ]
        obs += [Observable(eps_label(e), doc=f"Pr(max_k std_k > {e:g})") for e in self.eps]
        return tuple(obs)

    def _stds(self, state: GMMState) -> np.ndarray:
        tr = np.trace(state.covs, axis1=2, axis2=3)
        return np.sqrt(tr / self.d)  # (T, K)

    def _params(self, state: GMMState) -> list[np.ndarray]:
        trials = state.weights.shape[0]
        rows = list(state.weights.T)
        rows += list(state.means.reshape(trials, -1).T)
        rows += list(self._stds(state).T)
        return rows

    def l2_distance(self, state: GMMState) -> np.ndarray:
        """Per-trial L2 distance ||f_k - f_0||_2 between mixture densities (closed form)."""
        order = np.argsort(self.means[:, 0], kind="stable")
        # Imported here: the theory package loads scipy.stats (a second at start-up).
        from modelcollapse.theory.gmm import gmm_l2_sq

        sq = gmm_l2_sq(
            state.weights,
            state.means,
            state.covs,
            self.weights[order],
            self.means[order],
            self.covs[order],
        )
        return np.sqrt(np.maximum(sq, 0.0))

    def observe(self, state: GMMState, rows: Sequence[int] | None = None) -> np.ndarray:
        # Cheap observables: all are computed; the engine selects ``rows``.
        rows = [self.l2_distance(state), *self._params(state)]
        smax = self._stds(state).max(axis=1)
        rows += [(smax > e).astype(float) for e in self.eps]
        return np.stack(rows)

    def trajectory_fields(self) -> tuple[str, ...]:
        return (
            *(f"weight{k}" for k in range(self.k)),
            *self._mean_names(),
            *(f"std{k}" for k in range(self.k)),
        )

    def trajectory(self, state: GMMState) -> np.ndarray:
        return np.stack(self._params(state))

    def point_elements(self) -> int:
        return self.d

    def state_elements(self) -> int:
        return self.k * (1 + self.d + self.d * self.d)

    def block_trials(self, method: str, n: int) -> int:
        # EM holds several (trials, n, K) and, for d > 1, (trials, K, n, d) arrays per block
        per_trial = self.state_elements() + 4 * n * self.k * (self.d + 1)
        return int(max(1, min(GMM_BLOCK_TRIALS, BLOCK_ELEMENTS // per_trial)))
