"""d-dimensional Gaussian N(mu, Sigma) refitted by sample mean and sample covariance.

Beyond the paper (SPEC.md section 2). Exact step: the sample mean is N(mu, Sigma / n),
independent of the scatter matrix W ~ Wishart_d(n - 1, Sigma), and Sigma' = W / D with D = n
(``ml``) or n - 1 (``unbiased``). W is drawn for all trials at once by the Bartlett decomposition
(Bartlett 1933): W = L B B^T L^T with L = chol(Sigma), B lower triangular, B_ii = sqrt(chi2_{n-i})
(i = 1..d), B_ij ~ N(0, 1) below the diagonal. L B is lower triangular with a positive
diagonal, so it *is* the Cholesky factor of W: the state carries Cholesky factors and a step is
one batched triangular product, never a factorisation (scipy.stats.wishart draws one matrix per
call, far too slow per trial). The naive step draws the n samples and factors their scatter.

State. ``mean`` (T, d), and the Cholesky factor of Sigma split as chol = U diag(exp(l)) with U
unit lower triangular (T, d, d) and l = log diag(chol) (T, d). A step multiplies by a lower
triangular B (Bartlett factor, or the factor of the naive scatter):

    U diag(e^l) B = U M diag(B_ii) diag(e^l),   M_ij = B_ij e^(l_i - l_j) / B_jj,

so U <- U M and l <- l + log B_ii - log(D) / 2. The rows of a product of Bartlett factors
separate (row i of the diagonal is a chi2_{n-i} product, so l_i - l_j drifts to -infinity for
i > j), which makes M's off-diagonal part vanish and U converge: no number leaves the float
range however far and however anisotropically the covariance collapses, and
log det Sigma = 2 sum_i l_i is the exact running sum of log-chi-squares of the theory module
(``modelcollapse.theory.mvgaussian``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Event, Family, Observable, check_finite
from modelcollapse.families.gaussian import below_label, eps_label, scale_events
from modelcollapse.families.gmm import check_covariances


@dataclass(frozen=True)
class MVGaussianState:
    mean: np.ndarray  # (T, d)
    unit: np.ndarray  # (T, d, d), unit lower triangular
    log_diag: np.ndarray  # (T, d): log of the diagonal of chol(Sigma)


@dataclass(frozen=True, eq=False)
class MVGaussian(Family):
    """Multivariate Gaussian family.

    Parameters
    ----------
    mean : the starting mean, a list of d numbers.
    cov : the starting covariance, a d x d symmetric positive-definite matrix (list of lists);
        default: the identity.
    estimator : ``"unbiased"`` (divisor n - 1, default) or ``"ml"`` (divisor n).
    eps : thresholds for ``collapse_prob[eps=...]`` = Pr(det(Sigma_k)^(1/(2d)) > eps), the
        geometric-mean standard deviation (for d = 1, Pr(Sigma_k > eps) as in ``gaussian``).
    """

    name: ClassVar[str] = "mvgaussian"
    estimators: ClassVar[tuple[str, ...]] = ("unbiased", "ml")

    mean: Any = (0.0, 0.0)
    cov: Any = None
    estimator: str = "unbiased"
    eps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            mean = np.asarray(self.mean, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError("mean", self.mean, "a list of d numbers") from None
        if mean.ndim == 0:
            mean = mean[None]
        if mean.ndim != 1 or mean.size == 0:
            raise ConfigError("mean", self.mean, "a non-empty list of d numbers")
        if not np.all(np.isfinite(mean)):
            raise ConfigError("mean", float(mean[~np.isfinite(mean)][0]), "finite numbers")
        d = mean.size
        if self.cov is None:
            cov = np.eye(d)
        else:
            raw = np.asarray(self.cov, dtype=float) if _numeric(self.cov) else None
            if raw is None:
                raise ConfigError("cov", self.cov, f"a {d}x{d} matrix of numbers")
            if d == 1 and raw.ndim == 0:
                raw = raw.reshape(1, 1)
            if raw.shape != (d, d):
                raise ConfigError("cov", list(raw.shape), f"a {d}x{d} matrix (d = len(mean))")
            cov = check_covariances(raw[None], 1, d, "cov")[0]
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        eps = tuple(check_finite("eps", e, low=0.0, low_open=True) for e in self.eps)
        object.__setattr__(self, "eps", eps)

    @property
    def d(self) -> int:
        return int(self.mean.shape[0])

    def divisor(self, n: int) -> int:
        return n if self.estimator == "ml" else n - 1

    def check_n(self, n: int) -> None:
        if n < self.d + 1:
            raise ConfigError(
                "n",
                n,
                f"the mvgaussian family needs n >= d + 1 = {self.d + 1} samples "
                "(a nonsingular sample covariance)",
            )

    @property
    def logdet0(self) -> float:
        return float(np.linalg.slogdet(self.cov)[1])

    @property
    def trace0(self) -> float:
        return float(np.trace(self.cov))

    def initial_state(self, trials: int) -> MVGaussianState:
        chol = np.linalg.cholesky(self.cov)
        diag = np.diag(chol)
        return MVGaussianState(
            np.tile(self.mean, (trials, 1)),
            np.tile(chol / diag[None, :], (trials, 1, 1)),
            np.tile(np.log(diag), (trials, 1)),
        )

    def _advance(
        self, state: MVGaussianState, zbar: np.ndarray, factor: np.ndarray, n: int
    ) -> MVGaussianState:
        """Refit from the mean ``zbar`` of n standard normal vectors and the lower-triangular
        factor of their scatter (Wishart(n - 1, I)); the estimator is affine-equivariant, so
        this is the refit of the samples mean + chol z."""
        with np.errstate(under="ignore"):
            scaled = np.exp(state.log_diag)[:, :, None] * zbar[:, :, None]
        mean = state.mean + (state.unit @ scaled)[:, :, 0]
        bd = np.diagonal(factor, axis1=1, axis2=2)
        logd = state.log_diag
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            ratio = np.exp(logd[:, :, None] - logd[:, None, :])
            m = np.tril(factor * ratio, k=-1) / bd[:, None, :]
        idx = np.arange(logd.shape[1])
        m[:, idx, idx] = 1.0
        with np.errstate(divide="ignore"):
            log_diag = logd + np.log(bd) - 0.5 * math.log(self.divisor(n))
        return MVGaussianState(mean, state.unit @ m, log_diag)

    def step_exact(
        self, state: MVGaussianState, n: int, rng: np.random.Generator
    ) -> MVGaussianState:
        trials, d = state.mean.shape
        zbar = rng.standard_normal((trials, d)) / math.sqrt(n)
        # Bartlett: B_ii^2 ~ chi2_{n-i}, i = 1..d; B_ij ~ N(0,1) for i > j
        dof = (n - 1 - np.arange(d)) / 2.0
        diag = np.sqrt(2.0 * rng.standard_gamma(dof, (trials, d)))
        b = np.tril(rng.standard_normal((trials, d, d)), k=-1)
        idx = np.arange(d)
        b[:, idx, idx] = diag
        return self._advance(state, zbar, b, n)

    def step_naive(
        self, state: MVGaussianState, n: int, rng: np.random.Generator
    ) -> MVGaussianState:
        trials, d = state.mean.shape
        z = rng.standard_normal((trials, n, d))
        zbar = z.mean(axis=1)
        c = z - zbar[:, None, :]
        scatter = np.einsum("tni,tnj->tij", c, c)
        return self._advance(state, zbar, np.linalg.cholesky(scatter), n)

    # -- reporting ------------------------------------------------------------------------
    def logdet(self, state: MVGaussianState) -> np.ndarray:
        return 2.0 * state.log_diag.sum(axis=1)

    def log_trace(self, state: MVGaussianState) -> np.ndarray:
        """log tr Sigma = log sum_ij U_ij^2 e^(2 l_j), without forming Sigma."""
        from scipy.special import logsumexp  # here: scipy.special costs every command's start-up

        with np.errstate(divide="ignore"):
            terms = np.log(state.unit**2) + 2.0 * state.log_diag[:, None, :]
        return logsumexp(terms.reshape(terms.shape[0], -1), axis=1)

    def observables(self) -> tuple[Observable, ...]:
        base = (
            Observable("logdet_ratio", moments=True, doc="log det Sigma_k - log det Sigma_0"),
            Observable("trace_ratio", moments=True, doc="tr Sigma_k / tr Sigma_0"),
            Observable("mean_shift_sq", moments=True, doc="|M_k - M_0|^2"),
        )
        return base + tuple(
            Observable(eps_label(e), doc=f"Pr(det(Sigma_k)^(1/(2d)) > {e:g})") for e in self.eps
        )

    def observe(self, state: MVGaussianState, rows: Sequence[int] | None = None) -> np.ndarray:
        # Cheap observables: all are computed; the engine selects ``rows``.
        logdet = self.logdet(state)
        shift = state.mean - self.mean
        rows = [
            logdet - self.logdet0,
            np.exp(self.log_trace(state) - math.log(self.trace0)),
            (shift * shift).sum(axis=1),
        ]
        rows += [(logdet > 2.0 * self.d * math.log(e)).astype(float) for e in self.eps]
        return np.stack(rows)

    def trajectory_fields(self) -> tuple[str, ...]:
        return (*(f"mean{j}" for j in range(self.d)), "logdet", "trace")

    def trajectory(self, state: MVGaussianState) -> np.ndarray:
        return np.concatenate(
            [state.mean.T, self.logdet(state)[None], np.exp(self.log_trace(state))[None]]
        )

    def state_elements(self) -> int:
        return self.d + self.d * self.d + 1

    def events(self) -> tuple[Event, ...]:
        return scale_events(self.eps, "det(Sigma_k)^(1/(2d))")

    def hits(self, state: MVGaussianState, rows: Sequence[int]) -> np.ndarray:
        # det(Sigma)^(1/(2d)) < eps  <=>  log det Sigma < 2 d log eps
        logdet = self.logdet(state)
        return np.stack([logdet < 2.0 * self.d * math.log(self.eps[r]) for r in rows])

    @property
    def terminal_event(self) -> str | None:
        return below_label(min(self.eps)) if self.eps else None


def _numeric(value: Any) -> bool:
    try:
        np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return True
