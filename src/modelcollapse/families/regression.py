"""Linear regression refitted on its own labels (Dohmatob, Feng and Kempe 2024, "Model collapse
demystified"; Gerstgrasser et al. 2024, "Is model collapse inevitable?").

Generation k draws a design X (n rows of d features, rows N(0, I_d)) and labels
y = X w_{k-1} + e, e ~ N(0, sigma^2 I_n), from generation k-1's weights (w_0 is the truth), and
refits by ordinary least squares or ridge: w_k = (X^T X + lambda I)^{-1} X^T y (lambda = 0 for
OLS; the penalty is on the total squared error, so a pooled training set weighs it less).

The estimator depends on the data only through the pair (G, b) = (X^T X, X^T y), and given G,
X^T e ~ N(0, sigma^2 G). So the exact step draws G and b directly (SPEC.md section 7):

* fresh design (a new X every generation): G ~ Wishart_d(n, I), drawn by Bartlett's
  decomposition G = A A^T (A lower triangular, A_ii^2 ~ chi2_{n-i+1}, A_ij ~ N(0, 1) below the
  diagonal), and b = G w_{k-1} + sigma A z, z ~ N(0, I_d). For OLS this is
  w_k = w_{k-1} + sigma A^{-T} z, a Gaussian error given a Wishart matrix.
* fixed design (the same X every generation: the first n rows of one N(0, I) design drawn from
  ``design_seed``, shared by all trials): G is fixed, b = G w_{k-1} + sigma L z, L = chol(G).

Pools (for the workflows) are (G, b, rows) and add: accumulate pools X^T X and X^T y over all
generations. The sample path (rows with fields ``x`` and ``y``, shape (trials, n)) serves
curation (a score reads ``rows["x"]`` and ``rows["y"]``), the verifier (keep labels with
|y - x . w0| <= tol) and accumulate-subsample.

Metrics: ``test_error`` = ||w_k - w_0||^2 (the excess risk for isotropic features) and
``design_error`` = (w_k - w_0)^T G_0 (w_k - w_0) / n, the in-sample error on the fixed design
(for the fresh design it equals ``test_error``: the population second moment is I).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import (
    BLOCK_ELEMENTS,
    SCALAR_BLOCK_TRIALS,
    Family,
    Observable,
    check_finite,
)

DESIGNS = ("fresh", "fixed")
#: Largest number of features (the exact step holds a d x d matrix per trial).
MAX_FEATURES = 256


@dataclass(frozen=True)
class RegressionPool:
    """Pooled sufficient statistic: G = sum X^T X (trials, d, d), b = sum X^T y (trials, d)."""

    gram: np.ndarray
    xty: np.ndarray
    rows: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return self.rows

    def __add__(self, other: RegressionPool) -> RegressionPool:
        return RegressionPool(self.gram + other.gram, self.xty + other.xty, self.rows + other.rows)


@dataclass(frozen=True, eq=False)
class Regression(Family):
    """Linear regression with d features, noise ``sigma`` and true weights ``w0``.

    Parameters: ``d`` (default 10), ``sigma`` (1), ``w0`` (default: every weight 1/sqrt(d), so
    ||w0|| = 1), ``design`` ("fresh" or "fixed"), ``penalty`` lambda (ridge only, default 1),
    ``design_seed`` (the fixed design's seed). Estimators: "ols" (default) and "ridge".
    """

    name: ClassVar[str] = "regression"
    estimators: ClassVar[tuple[str, ...]] = ("ols", "ridge")

    d: int = 10
    sigma: float = 1.0
    w0: Any = None
    design: str = "fresh"
    penalty: float | None = None
    design_seed: int = 0
    estimator: str = "ols"

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.d
        if isinstance(d, float) and d.is_integer():
            d = int(d)
        integer = isinstance(d, (int, np.integer)) and not isinstance(d, bool)
        if not integer or not 1 <= d <= MAX_FEATURES:
            raise ConfigError("d", self.d, f"an integer from 1 to {MAX_FEATURES} (features)")
        object.__setattr__(self, "d", int(d))
        object.__setattr__(
            self, "sigma", check_finite("sigma", self.sigma, low=0.0, low_open=True)
        )
        if self.w0 is None:
            w0 = np.full(int(d), 1.0 / np.sqrt(d))
        else:
            try:
                w0 = np.atleast_1d(np.asarray(self.w0, dtype=float))
            except (TypeError, ValueError):
                raise ConfigError("w0", self.w0, f"a list of {d} finite weights") from None
            if w0.shape != (d,) or not np.all(np.isfinite(w0)):
                raise ConfigError("w0", self.w0, f"a list of {d} finite weights")
        object.__setattr__(self, "w0", w0)
        if self.design not in DESIGNS:
            raise ConfigError("design", self.design, f"one of: {', '.join(DESIGNS)}")
        if self.estimator == "ridge":
            lam = 1.0 if self.penalty is None else self.penalty
            lam = check_finite("penalty", lam, low=0.0, allowed="a finite number >= 0")
        elif self.penalty not in (None, 0, 0.0):
            raise ConfigError("penalty", self.penalty, "only the ridge estimator takes a penalty")
        else:
            lam = 0.0
        object.__setattr__(self, "penalty", float(lam))
        seed = self.design_seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError("design_seed", seed, "an integer >= 0")

    # -- checks --------------------------------------------------------------------------
    def check_n(self, n: int) -> None:
        if n < self.d:
            raise ConfigError(
                "n",
                n,
                f"at least d = {self.d} rows per generation (X^T X must be invertible and the "
                "Wishart law of the exact step needs n >= d)",
            )

    # -- the fixed design ------------------------------------------------------------------
    @functools.cached_property
    def _designs(self) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return {}

    def fixed_design(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, G = X^T X, chol(G)) of the fixed design's first n rows."""
        cache = self._designs
        if n not in cache:
            # Row-major draws: the first n rows are the same for any longer design.
            x = np.random.default_rng(self.design_seed).standard_normal((n, self.d))
            g = x.T @ x
            cache[n] = (x, g, np.linalg.cholesky(g))
        return cache[n]

    # -- the step ------------------------------------------------------------------------
    def initial_state(self, trials: int) -> np.ndarray:
        return np.broadcast_to(self.w0, (trials, self.d))

    def _solve(self, gram: np.ndarray, xty: np.ndarray) -> np.ndarray:
        if self.penalty:
            gram = gram + self.penalty * np.eye(self.d)
        return np.linalg.solve(gram, xty[..., None])[..., 0]

    def _draw_stat(
        self, state: np.ndarray, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(G, b) of n rows labelled by ``state``, from their exact joint law."""
        trials, d = state.shape
        if self.design == "fixed":
            _, g, chol = self.fixed_design(n)
            z = rng.standard_normal((trials, d))
            b = state @ g + self.sigma * z @ chol.T
            return np.broadcast_to(g, (trials, d, d)), b
        # Bartlett: A lower triangular, A_ii = sqrt(chi2_{n-i}) (i = 0..d-1), N(0,1) below.
        a = np.zeros((trials, d, d))
        rows, cols = np.tril_indices(d, -1)
        a[:, rows, cols] = rng.standard_normal((trials, rows.size))
        diag = np.arange(d)
        a[:, diag, diag] = np.sqrt(2.0 * rng.standard_gamma(0.5 * (n - diag), (trials, d)))
        g = a @ np.swapaxes(a, 1, 2)
        z = rng.standard_normal((trials, d))
        b = (g @ state[..., None])[..., 0] + self.sigma * (a @ z[..., None])[..., 0]
        return g, b

    def step_exact(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        g, b = self._draw_stat(state, n, rng)
        return self._solve(g, b)

    def row_dtype(self) -> np.dtype:
        """One data row: features ``x`` (d,) and label ``y``."""
        return np.dtype([("x", np.float64, (self.d,)), ("y", np.float64)])

    def sample(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """n labelled rows per trial, (trials, n) of ``row_dtype`` (fields ``x`` and ``y``):
        one element per row, so pools of rows concatenate and subsample like scalars."""
        trials, d = state.shape
        out = np.empty((trials, n), dtype=self.row_dtype())
        if self.design == "fixed":
            out["x"] = self.fixed_design(n)[0]
        else:
            out["x"] = rng.standard_normal((trials, n, d))
        x = out["x"]
        out["y"] = (x @ state[..., None])[..., 0] + self.sigma * rng.standard_normal((trials, n))
        return out

    def fit_samples(self, samples: np.ndarray) -> np.ndarray:
        x, y = samples["x"], samples["y"]
        xt = np.swapaxes(x, 1, 2)
        return self._solve(xt @ x, (xt @ y[..., None])[..., 0])

    def step_naive(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.fit_samples(self.sample(state, n, rng))

    has_pools: ClassVar[bool] = True

    def draw_pool(
        self, state: np.ndarray, n: int, rng: np.random.Generator, method: str
    ) -> RegressionPool:
        if method == "exact":
            g, b = self._draw_stat(state, n, rng)
        else:
            s = self.sample(state, n, rng)
            x, y = s["x"], s["y"]
            xt = np.swapaxes(x, 1, 2)
            g, b = xt @ x, (xt @ y[..., None])[..., 0]
        return RegressionPool(np.array(g), b, np.full(state.shape[0], n, dtype=np.int64))

    def fit_pool(self, pool: RegressionPool) -> np.ndarray:
        return self._solve(pool.gram, pool.xty)

    # -- the verifier (samplers.Verifier) ----------------------------------------------------
    def verifier_curation(self, verifier: Any) -> Any:
        from modelcollapse.samplers import Curation

        w0 = self.w0
        return Curation(
            lambda rows: -np.abs(rows["y"] - rows["x"] @ w0),
            threshold=-verifier.tol,
            name=f"verifier(tol={verifier.tol:g})",
        )

    # -- reporting -----------------------------------------------------------------------
    def observables(self) -> tuple[Observable, ...]:
        return (
            Observable("test_error", moments=True, doc="||w_k - w_0||^2"),
            Observable(
                "design_error",
                moments=True,
                doc="(w_k - w_0)^T G (w_k - w_0) / n on the fixed design (fresh: = test_error)",
            ),
            Observable("weight_norm2", moments=True, doc="||w_k||^2"),
        )

    def _design_metric(self, delta: np.ndarray) -> np.ndarray:
        if self.design == "fresh":
            return (delta * delta).sum(axis=1)
        # The design of the run: under a schedule, the longest one drawn so far.
        n = max(self._designs) if self._designs else self.d
        g = self.fixed_design(n)[1]
        return ((delta @ g) * delta).sum(axis=1) / n

    def observe(self, state: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        delta = state - self.w0
        compute = (
            lambda: (delta * delta).sum(axis=1),
            lambda: self._design_metric(delta),
            lambda: (state * state).sum(axis=1),
        )
        wanted = range(3) if rows is None else rows
        return np.stack([compute[r]() for r in wanted])

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("test_error", "design_error")

    def trajectory(self, state: np.ndarray) -> np.ndarray:
        return self.observe(state, (0, 1))

    # -- sizing and description -------------------------------------------------------------
    def state_elements(self) -> int:
        return self.d * (self.d + 2)

    def block_trials(self, method: str, n: int) -> int:
        per_trial = self.state_elements() + (n * (self.d + 1) * 2 if method == "naive" else 0)
        return int(max(1, min(SCALAR_BLOCK_TRIALS, BLOCK_ELEMENTS // per_trial)))

    @property
    def event_size(self) -> int:
        return self.d + 1
