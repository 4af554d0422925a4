"""Symmetric two-component Gaussian mixture 0.5 N(mu, s^2) + 0.5 N(-mu, s^2), refitted each
generation by joint ML or by the paper's approximate joint ML (Algorithm 1).

SPEC.md sections 2 and 4; Suresh, Thangaraj, Khandavally, "Rate of Model Collapse in Recursive
Training", AISTATS 2025: Algorithm 1 and Theorem 4 (with the approximate estimator,
Pr(S_k > eps) <= (sigma_0 / eps) exp(-k / (4n))). The model has no finite sufficient statistic,
so there is only the sample path: each generation draws n samples per trial (all trials at once)
and applies the estimator of ``mixture_estimators`` to the whole (trials, n) array. Workflows
other than replace keep the raw samples (``sample``, ``fit_samples``).

State. ``mu`` and ``log_s2`` = log s^2 per trial. Both estimators depend on |y| only, and
|Y| = |mu + s Z| in law (the sign X is absorbed by the symmetric Z), so a generation draws
Z ~ N(0, 1), folds c + Z with c = mu / s, fits in these standardised units and scales back
(both estimators are scale-equivariant). The collapse drives s to 0 while mu stays put, so c grows
without bound; the folded sample is therefore written as c + d_i with d_i computed exactly
(d_i = Z_i, or -2c - Z_i where c + Z_i < 0), and when c > ``C_SEPARATED`` (no sample can change
sign: Pr(Z < -1e8) = 0 in float64) the update is applied as a shift mu + s * delta, which is exact
to rounding and never overflows however small s has become.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from modelcollapse import limits
from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Event, Family, Observable, check_finite
from modelcollapse.families.gaussian import below_label, eps_label, scale_events, scale_hits
from modelcollapse.families.mixture_estimators import (
    approx_ml_folded,
    joint_ml_folded,
    joint_ml_paper_folded,
)

#: Above this standardised separation mu / s no folded sample changes sign and the fit is the
#: Gaussian fit of the shifted sample: larger values give the same update to the last bit.
C_SEPARATED = 1e8
#: ``joint-ml-paper``: starting points above this many current s (any point above sqrt(m2)
#: leads the solver to mean|y| in one step) are capped so that the arithmetic stays finite.
PAPER_START_CAP = 1e150


@dataclass(frozen=True)
class Mixture2State:
    mu: np.ndarray
    log_s2: np.ndarray


@dataclass(frozen=True)
class Mixture2(Family):
    """Symmetric 2-GMM family.

    Parameters
    ----------
    mu : starting component mean, >= 0 (the components sit at +mu and -mu).
    sigma : starting component standard deviation s, > 0.
    estimator : ``"joint-ml"`` (joint maximum likelihood, the default) or ``"approx-ml"``
        (Algorithm 1 of Suresh et al. 2025, which keeps mu^2 + s^2 = mean(y^2)).
        ``"joint-ml-paper"`` is not an estimator of ours: it emulates the root finder of the
        paper's published code (scipy ``fsolve`` started at the generation-0 mean ``mu`` in every
        generation; see ``mixture_estimators.paper_root``), which often reports the trivial root
        mu = 0 instead of the likelihood maximum. It exists to reproduce the published joint-ML
        collapse curve and explain why it differs from ``joint-ml``.
    eta : Algorithm 1's parameter, > 1 (default 2, the paper's runs); used by ``approx-ml`` only.
    eps : thresholds for ``sigma_above[eps=...]`` = Pr(S_k > eps).
    """

    name: ClassVar[str] = "mixture2"
    estimators: ClassVar[tuple[str, ...]] = ("joint-ml", "approx-ml", "joint-ml-paper")
    has_exact: ClassVar[bool] = False

    mu: float = 1.0
    sigma: float = 1.0
    estimator: str = "joint-ml"
    eta: float = 2.0
    eps: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "mu", check_finite("mu", self.mu, low=0.0))
        object.__setattr__(self, "sigma", check_finite("sigma", self.sigma, low=0.0, low_open=True))
        eta = check_finite(
            "eta", self.eta, low=1.0, low_open=True, allowed="a finite number > 1 (paper: 2)"
        )
        object.__setattr__(self, "eta", eta)
        eps = tuple(check_finite("eps", e, low=0.0, low_open=True) for e in self.eps)
        object.__setattr__(self, "eps", eps)

    def check_n(self, n: int) -> None:
        if n < 2:
            raise ConfigError("n", n, "the mixture2 family needs n >= 2 samples per generation")
        limits.check_float_scale(n, self.mu, self.sigma, self.name)

    def initial_state(self, trials: int) -> Mixture2State:
        return Mixture2State(np.full(trials, self.mu), np.full(trials, 2.0 * math.log(self.sigma)))

    def step_exact(self, state: Mixture2State, n: int, rng: np.random.Generator) -> Mixture2State:
        raise NotImplementedError("mixture2 has no finite sufficient statistic: use method='naive'")

    def step_naive(self, state: Mixture2State, n: int, rng: np.random.Generator) -> Mixture2State:
        trials = state.mu.shape[0]
        s = np.exp(0.5 * state.log_s2)
        with np.errstate(divide="ignore", over="ignore"):
            c = np.exp(np.log(state.mu) - 0.5 * state.log_s2)
        far = c > C_SEPARATED
        c = np.minimum(c, C_SEPARATED)
        z = rng.standard_normal((trials, n))
        w = c[:, None] + z
        # |c + z| - c, exactly (no subtraction of two large numbers)
        d = np.where(w < 0, -2.0 * c[:, None] - z, z)
        dbar = d.mean(axis=1)
        v = ((d - dbar[:, None]) ** 2).mean(axis=1)
        ubar = c + dbar
        if self.estimator == "joint-ml":
            e, s2 = joint_ml_folded(ubar, v, np.abs(w))
        elif self.estimator == "joint-ml-paper":
            # the published solver starts at mu_0 (absolute units) = mu_0 / s current s-units
            with np.errstate(divide="ignore", over="ignore"):
                start = np.exp(math.log(self.mu) - 0.5 * state.log_s2) if self.mu > 0 else 0.0 * s
            start = np.minimum(start, PAPER_START_CAP)
            e, s2 = joint_ml_paper_folded(ubar, v, np.abs(w), start)
        else:
            e, s2 = approx_ml_folded(ubar, v, n, self.eta)
        mu_far = state.mu + s * (dbar + e)
        mu_near = s * (ubar + e)
        mu = np.maximum(np.where(far, mu_far, mu_near), 0.0)
        with np.errstate(divide="ignore"):
            log_s2 = state.log_s2 + np.log(s2)
        return Mixture2State(mu, log_s2)

    # -- raw samples, for the sample-path workflows (modelcollapse.workflows) --------------
    def sample(self, state: Mixture2State, n: int, rng: np.random.Generator) -> np.ndarray:
        """(trials, n) samples y = mu X + s Z, X uniform on {-1, +1}, Z ~ N(0, 1)."""
        trials = state.mu.shape[0]
        sign = np.where(rng.random((trials, n)) < 0.5, -1.0, 1.0)
        z = rng.standard_normal((trials, n))
        with np.errstate(under="ignore"):
            s = np.exp(0.5 * state.log_s2)
        return sign * state.mu[:, None] + s[:, None] * z

    def fit_samples(self, samples: np.ndarray) -> Mixture2State:
        """The family's estimator applied to pooled raw samples (trials, N), any N >= 2.

        Both estimators see |y| only and are scale-equivariant, so the pool is folded and divided
        by its largest |y| per trial (a collapsed model's samples can be far below the float
        range's squares) and the fit is scaled back, log s^2 = 2 log(scale) + log s'^2. Unlike
        ``step_naive``, which draws in units of the current s, raw samples are absolute numbers:
        the fit is accurate while s > ~1e-14 mu (measured: E[S'] / s as ``step_naive``'s to 1e-4
        at s = 1e-14 mu), but near 1e-16 mu the samples round to +-mu, and the fit returns rounding
        noise or s' = 0 (log s^2 = -inf). ``joint-ml-paper`` starts its solver at mu_0 in these units
        (the 1e-20 floor of its score is then relative to the pool's largest |y|).
        """
        samples = np.asarray(samples, dtype=float)
        size = samples.shape[1]
        u = np.abs(samples)
        scale = u.max(axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        u = u / scale[:, None]
        ubar = u.mean(axis=1)
        v = ((u - ubar[:, None]) ** 2).mean(axis=1)
        if self.estimator == "joint-ml":
            e, s2 = joint_ml_folded(ubar, v, u)
        elif self.estimator == "joint-ml-paper":
            start = np.minimum(self.mu / scale, PAPER_START_CAP)
            e, s2 = joint_ml_paper_folded(ubar, v, u, start)
        else:
            e, s2 = approx_ml_folded(ubar, v, size, self.eta)
        mu = scale * np.maximum(ubar + e, 0.0)
        with np.errstate(divide="ignore"):
            log_s2 = 2.0 * np.log(scale) + np.log(s2)
        return Mixture2State(mu, log_s2)

    def observables(self) -> tuple[Observable, ...]:
        base = (
            Observable("mu", moments=True, doc="component mean M_k"),
            Observable("sigma", moments=True, doc="component standard deviation S_k"),
            Observable("log_sigma2", moments=True, doc="log S_k^2"),
        )
        return base + tuple(Observable(eps_label(e), doc=f"Pr(S_k > {e:g})") for e in self.eps)

    def observe(self, state: Mixture2State, rows: Sequence[int] | None = None) -> np.ndarray:
        # Cheap observables: all are computed; the engine selects ``rows``.
        rows = [state.mu, np.exp(0.5 * state.log_s2), state.log_s2]
        rows += [(state.log_s2 > 2.0 * math.log(e)).astype(float) for e in self.eps]
        return np.stack(rows)

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("mu", "sigma", "log_sigma2")

    def trajectory(self, state: Mixture2State) -> np.ndarray:
        return np.stack([state.mu, np.exp(0.5 * state.log_s2), state.log_s2])

    def state_elements(self) -> int:
        return 2

    def events(self) -> tuple[Event, ...]:
        return scale_events(self.eps, "S_k")

    def hits(self, state: Mixture2State, rows: Sequence[int]) -> np.ndarray:
        return scale_hits(state.log_s2, self.eps, rows)

    @property
    def terminal_event(self) -> str | None:
        return below_label(min(self.eps)) if self.eps else None
