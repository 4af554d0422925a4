"""Poisson(lambda) trained by maximum likelihood: a critical Galton-Watson process.

Exact step (SPEC.md section 2): S ~ Poisson(n Lambda_{k-1}), Lambda_k = S / n; N_k = n Lambda_k
is a critical branching process with Poisson(1) offspring. Theorem 2 of the paper gives
Pr(Lambda_k != 0) = 1 - exp(-n lambda_0 g_k) exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from modelcollapse import limits
from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Event, Family, Observable, check_finite, requested_rows
from modelcollapse.pools import SumPool


@dataclass(frozen=True)
class Poisson(Family):
    """Poisson family; the state is Lambda_k per trial."""

    name: ClassVar[str] = "poisson"

    lam: float = 1.0
    estimator: str = "ml"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "lam", check_finite("lambda", self.lam, low=0.0))

    def check_n(self, n: int) -> None:
        if n < 1:
            raise ConfigError("schedule", n, "sample sizes >= 1")
        # The exact step draws Poisson(n * lambda): numpy refuses means above its limit.
        limits.check_poisson_rate(n, self.lam, "exact")

    def initial_state(self, trials: int) -> np.ndarray:
        return np.full(trials, self.lam)

    def step_exact(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(n * state) / n

    def step_naive(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        draws = rng.poisson(np.broadcast_to(state[:, None], (state.shape[0], n)))
        return draws.sum(axis=1) / n

    has_pools: ClassVar[bool] = True

    def draw_pool(
        self, state: np.ndarray, n: int, rng: np.random.Generator, method: str
    ) -> SumPool:
        total = np.rint(self.step(state, n, rng, method) * n).astype(np.int64)
        return SumPool(total, np.full(state.shape[0], n, dtype=np.int64))

    def fit_pool(self, pool: SumPool) -> np.ndarray:
        return pool.total / pool.size

    def sample(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.poisson(np.broadcast_to(state[:, None], (state.shape[0], n))).astype(float)

    def fit_samples(self, samples: np.ndarray) -> np.ndarray:
        return samples.mean(axis=1)

    def observables(self) -> tuple[Observable, ...]:
        return (
            Observable("lambda", moments=True, doc="Lambda_k"),
            Observable("survival", doc="Pr(Lambda_k != 0)", indicator=True),
            Observable(
                "kl_from_start",
                moments=True,
                doc="KL(Poisson(Lambda_k) || Poisson(lambda_0)) in nats",
            ),
        )

    def observe(self, state: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        # Only the requested rows are computed (this runs every recorded generation).
        lam0 = self.lam

        def kl() -> np.ndarray:
            # KL(Poisson(l) || Poisson(l0)) = l log(l / l0) - l + l0, with 0 log 0 = 0 (l log l
            # is evaluated as l log(max(l, tiny)), exact at 0 and within 1e-300 elsewhere).
            if lam0 == 0.0:  # the process is extinct from the start: KL = 0
                return np.zeros(state.shape[0])
            out = np.log(np.maximum(state, np.finfo(float).tiny))
            out -= math.log(lam0)
            out *= state
            out -= state
            out += lam0
            return out

        compute = (lambda: state, lambda: (state > 0).astype(float), kl)
        return requested_rows(compute, rows, state.shape[0])

    def events(self) -> tuple[Event, ...]:
        return (Event("extinction", doc="Lambda_k = 0 (the branching process dies out)"),)

    def hits(self, state: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        return np.stack([state <= 0.0 for _ in rows])

    @property
    def terminal_event(self) -> str:
        return "extinction"

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("lambda",)

    def trajectory(self, state: np.ndarray) -> np.ndarray:
        return state[None, :]

    def describe(self) -> dict:
        out = super().describe()
        out["lambda"] = out.pop("lam")
        return out
