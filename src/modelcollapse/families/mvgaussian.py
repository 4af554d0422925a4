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

Workflows (``modelcollapse.workflows``). Pools are ``ScatterPool``: size, mean and the scatter
matrix's Cholesky factor in the same unit-triangle / log-diagonal form, so a pool drawn from the
model is L B (as above, without the divisor), two pools merge by rank-one updates of the factor
(Chan et al.'s update, ``modelcollapse.pools``), and ``fit_pool`` only shifts the log-diagonal by
-log(D) / 2. accumulate-subsample keeps the raw samples (``sample``, ``fit_samples``).

Sampler stage: a truncation factor psi (``samplers.Truncation``, the image models' truncation
trick on a Gaussian latent) draws the samples from N(M, psi^2 Sigma). Its Cholesky factor is
psi L, i.e. the state with l + ln psi, so every draw (exact and naive step, pools, raw samples)
draws from that state and the exact step stays exact: generation k >= 2 has
log det Sigma_k = log det Sigma_{k-1} + 2 d ln psi + log det(W / D), W ~ Wishart_d(n - 1, I)
(``modelcollapse.theory.mvgaussian.truncation_logdet_mean``). Generation 1 draws the real data
without the stage (``Family.real_data_family``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Event, Family, Observable, check_finite, check_real_list
from modelcollapse.families.gaussian import below_label, eps_label, scale_events
from modelcollapse.families.gmm import check_covariances
from modelcollapse.pools import ScatterPool, cholesky_update


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
    eps : thresholds for ``sigma_above[eps=...]`` = Pr(det(Sigma_k)^(1/(2d)) > eps), the
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
        check_real_list("mean", self.mean)  # strict: no bools or strings coerced to numbers
        if self.cov is not None:
            check_real_list("cov", self.cov)
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

    sampler_stages: ClassVar[tuple[str, ...]] = ("Truncation",)

    def _drawn(self, state: MVGaussianState) -> MVGaussianState:
        """The law the samples come from: the state, or N(M, psi^2 Sigma), whose Cholesky
        factor psi L only moves the log-diagonal (by ln psi; the unit triangle is unchanged)."""
        s = self.sampler
        if s is None:
            return state
        return MVGaussianState(state.mean, state.unit, state.log_diag + math.log(s.scale))

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

    def _times(
        self, state: MVGaussianState, factor: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(U', l') with U' diag(e^l') = L B for the state's factor L and a lower-triangular
        ``factor`` B with a positive diagonal (the module docstring's M), without forming L."""
        bd = np.diagonal(factor, axis1=1, axis2=2)
        logd = state.log_diag
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            ratio = np.exp(logd[:, :, None] - logd[:, None, :])
            m = np.tril(factor * ratio, k=-1) / bd[:, None, :]
        idx = np.arange(logd.shape[1])
        m[:, idx, idx] = 1.0
        with np.errstate(divide="ignore"):
            return state.unit @ m, logd + np.log(bd)

    def _shift(self, state: MVGaussianState, zbar: np.ndarray) -> np.ndarray:
        """mean + L zbar, the image of a standard normal sample's mean."""
        with np.errstate(under="ignore"):
            scaled = np.exp(state.log_diag)[:, :, None] * zbar[:, :, None]
        return state.mean + (state.unit @ scaled)[:, :, 0]

    def _advance(
        self, state: MVGaussianState, zbar: np.ndarray, factor: np.ndarray, n: int
    ) -> MVGaussianState:
        """Refit from the mean ``zbar`` of n standard normal vectors and the lower-triangular
        factor of their scatter (Wishart(n - 1, I)); the estimator is affine-equivariant, so
        this is the refit of the samples mean + chol z."""
        unit, log_diag = self._times(state, factor)
        log_diag -= 0.5 * math.log(self.divisor(n))
        return MVGaussianState(self._shift(state, zbar), unit, log_diag)

    def _bartlett(self, trials: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """The Cholesky factor of a Wishart_d(n - 1, I) matrix (Bartlett 1933)."""
        d = self.d
        # B_ii^2 ~ chi2_{n-i}, i = 1..d; B_ij ~ N(0,1) for i > j
        dof = (n - 1 - np.arange(d)) / 2.0
        diag = np.sqrt(2.0 * rng.standard_gamma(dof, (trials, d)))
        b = np.tril(rng.standard_normal((trials, d, d)), k=-1)
        idx = np.arange(d)
        b[:, idx, idx] = diag
        return b

    def step_exact(
        self, state: MVGaussianState, n: int, rng: np.random.Generator
    ) -> MVGaussianState:
        state = self._drawn(state)
        trials, d = state.mean.shape
        zbar = rng.standard_normal((trials, d)) / math.sqrt(n)
        return self._advance(state, zbar, self._bartlett(trials, n, rng), n)

    def step_naive(
        self, state: MVGaussianState, n: int, rng: np.random.Generator
    ) -> MVGaussianState:
        state = self._drawn(state)
        trials, d = state.mean.shape
        z = rng.standard_normal((trials, n, d))
        zbar = z.mean(axis=1)
        c = z - zbar[:, None, :]
        scatter = np.einsum("tni,tnj->tij", c, c)
        return self._advance(state, zbar, np.linalg.cholesky(scatter), n)

    # -- pools and raw samples, for the workflows (modelcollapse.workflows) ---------------
    has_pools: ClassVar[bool] = True

    def draw_pool(
        self, state: MVGaussianState, n: int, rng: np.random.Generator, method: str
    ) -> ScatterPool:
        """Size, mean and factored scatter of n samples of the model ``state``.

        Exact: mean ~ N(M, Sigma / n) and scatter = L W L^T with W ~ Wishart_d(n - 1, I) by
        Bartlett, the draw of ``step_exact`` without the divisor, so that the factor is the
        product L B and never leaves the state's log-diagonal form. Naive: the n samples' own
        mean and scatter. With n <= d (a singular scatter, e.g. mix-fixed's handful of real
        points) the n samples are drawn and their scatter factored by rank-one updates. With a
        truncation psi both draw from N(M, psi^2 Sigma).
        """
        trials, d = state.mean.shape
        size = np.full(trials, float(n))
        if n <= d:
            return self.pool_of(self.sample(state, n, rng))  # ``sample`` applies psi itself
        state = self._drawn(state)
        if method == "exact":
            zbar = rng.standard_normal((trials, d)) / math.sqrt(n)
            factor = self._bartlett(trials, n, rng)
        else:
            z = rng.standard_normal((trials, n, d))
            zbar = z.mean(axis=1)
            c = z - zbar[:, None, :]
            factor = np.linalg.cholesky(np.einsum("tni,tnj->tij", c, c))
        unit, log_diag = self._times(state, factor)
        return ScatterPool(size, self._shift(state, zbar), unit, log_diag)

    def fit_pool(self, pool: ScatterPool) -> MVGaussianState:
        """Sigma = S / D(N), D = N - 1 or N: chol(Sigma) = chol(S) / sqrt(D), so only the
        log-diagonal changes."""
        divisor = pool.size if self.estimator == "ml" else pool.size - 1
        return MVGaussianState(
            pool.mean.copy(), pool.unit.copy(), pool.log_diag - 0.5 * np.log(divisor)[:, None]
        )

    def sample(self, state: MVGaussianState, n: int, rng: np.random.Generator) -> np.ndarray:
        """(trials, n, d) samples mean + U diag(e^l) z. Raw samples are absolute numbers: once
        a covariance has collapsed below about 1e-16 of the mean's magnitude they round to the
        mean (the pooled path has no such floor). With a truncation psi, the samples of
        N(M, psi^2 Sigma)."""
        state = self._drawn(state)
        z = rng.standard_normal((state.mean.shape[0], n, self.d))
        with np.errstate(under="ignore"):
            z *= np.exp(state.log_diag)[:, None, :]
        return state.mean[:, None, :] + np.einsum("tij,tnj->tni", state.unit, z)

    def pool_of(self, samples: np.ndarray) -> ScatterPool:
        """The pool of raw samples (trials, N, d). Where a diagonal entry of the scatter leaves
        [1e-280, 1e280], that trial's deviations are first divided by their largest magnitude
        (the scale goes back in as a log), so the scatter neither under- nor overflows. N <= d
        points, or a batch in which some trial's points are degenerate (both give a singular
        scatter, which Cholesky refuses), are added one rank-one update at a time."""
        trials, size, d = samples.shape
        mean = (np.ones(size) @ samples) / size  # a batched product: far faster than mean(axis=1)
        dev = samples - mean[:, None, :]
        log_scale = np.zeros(trials)
        if size > d:
            scatter = dev.transpose(0, 2, 1) @ dev
            diag = np.diagonal(scatter, axis1=1, axis2=2)
            # Rescale only where a square left (or nearly left) the normal float range.
            odd = ~np.all((diag > 1e-280) & (diag < 1e280), axis=1)
            if np.any(odd):
                part = dev[odd]
                peak = np.abs(part).max(axis=(1, 2))
                scale = np.where(peak > 0, peak, 1.0)
                part /= scale[:, None, None]
                scatter[odd] = part.transpose(0, 2, 1) @ part
                log_scale[odd] = np.log(scale)
            try:
                chol = np.linalg.cholesky(scatter)
            except np.linalg.LinAlgError:
                chol = None  # some trial's points are (numerically) degenerate
            if chol is not None:
                diag = np.diagonal(chol, axis1=1, axis2=2)
                unit = chol / diag[:, None, :]
                log_diag = np.log(diag) + log_scale[:, None]
                return ScatterPool(np.full(trials, float(size)), mean, unit, log_diag)
        # Fewer than d + 1 points, or degenerate ones (raw samples of a covariance collapsed
        # below their rounding): add the points one rank-one update at a time, which accepts a
        # singular scatter (log-diagonal -inf).
        peak = np.abs(dev).max(axis=(1, 2))
        scale = np.where(peak > 0, peak, 1.0)
        dev /= scale[:, None, None]
        unit = np.tile(np.eye(d), (trials, 1, 1))
        log_diag = np.full((trials, d), -np.inf)
        for i in range(size):
            cholesky_update(unit, log_diag, np.log(scale), dev[:, i])
        return ScatterPool(np.full(trials, float(size)), mean, unit, log_diag)

    def fit_samples(self, samples: np.ndarray) -> MVGaussianState:
        """Sample mean and covariance (divisor N - 1 or N) of raw samples (trials, N, d)."""
        return self.fit_pool(self.pool_of(samples))

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

    def point_elements(self) -> int:
        return self.d

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
