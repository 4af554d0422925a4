"""Bernoulli(p) trained by maximum likelihood: the neutral Wright-Fisher chain.

Exact step (SPEC.md section 2): S ~ Binomial(n, P_{k-1}), P_k = S / n. The paper's Theorem 1
bounds Pr(P_k != 0) (Suresh, Thangaraj and Khandavally, AISTATS 2025).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from modelcollapse.families.base import Family, Observable, check_finite


@dataclass(frozen=True)
class Bernoulli(Family):
    """Bernoulli family; the state is P_k per trial (always a multiple of 1/n after a step)."""

    name: ClassVar[str] = "bernoulli"

    p: float = 0.5
    estimator: str = "ml"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "p", check_finite("p", self.p, low=0.0, high=1.0))

    def initial_state(self, trials: int) -> np.ndarray:
        return np.full(trials, self.p)

    def step_exact(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.binomial(n, state) / n

    def step_naive(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        hits = rng.random((state.shape[0], n)) < state[:, None]
        return hits.sum(axis=1) / n

    def observables(self) -> tuple[Observable, ...]:
        return (
            Observable("p", moments=True, doc="P_k"),
            Observable("survival", doc="Pr(P_k != 0)"),
            Observable("nondegenerate", doc="Pr(P_k not in {0, 1})"),
        )

    def observe(self, state: np.ndarray) -> np.ndarray:
        return np.stack([state, state > 0, (state > 0) & (state < 1)]).astype(float)

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("p",)

    def trajectory(self, state: np.ndarray) -> np.ndarray:
        return state[None, :]
