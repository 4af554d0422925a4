"""Poisson(lambda) trained by maximum likelihood: a critical Galton-Watson process.

Exact step (SPEC.md section 2): S ~ Poisson(n Lambda_{k-1}), Lambda_k = S / n; N_k = n Lambda_k
is a critical branching process with Poisson(1) offspring. Theorem 2 of the paper gives
Pr(Lambda_k != 0) = 1 - exp(-n lambda_0 g_k) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from modelcollapse.families.base import Family, Observable, check_finite


@dataclass(frozen=True)
class Poisson(Family):
    """Poisson family; the state is Lambda_k per trial."""

    name: ClassVar[str] = "poisson"

    lam: float = 1.0
    estimator: str = "ml"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "lam", check_finite("lambda", self.lam, low=0.0))

    def initial_state(self, trials: int) -> np.ndarray:
        return np.full(trials, self.lam)

    def step_exact(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(n * state) / n

    def step_naive(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        draws = rng.poisson(np.broadcast_to(state[:, None], (state.shape[0], n)))
        return draws.sum(axis=1) / n

    def observables(self) -> tuple[Observable, ...]:
        return (
            Observable("lambda", moments=True, doc="Lambda_k"),
            Observable("survival", doc="Pr(Lambda_k != 0)"),
        )

    def observe(self, state: np.ndarray) -> np.ndarray:
        return np.stack([state, (state > 0).astype(float)])

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("lambda",)

    def trajectory(self, state: np.ndarray) -> np.ndarray:
        return state[None, :]

    def describe(self) -> dict:
        out = super().describe()
        out["lambda"] = out.pop("lam")
        return out
