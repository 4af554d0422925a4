"""Bernoulli(p) trained by maximum likelihood: the neutral Wright-Fisher chain.

Exact step (SPEC.md section 2): S ~ Binomial(n, P_{k-1}), P_k = S / n. The paper's Theorem 1
bounds Pr(P_k != 0) (Suresh, Thangaraj and Khandavally, AISTATS 2025).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from modelcollapse.families.base import Event, Family, Observable, check_finite, requested_rows
from modelcollapse.families.lattice_binomial import MAX_N as LATTICE_MAX_N
from modelcollapse.families.lattice_binomial import lattice_binomial
from modelcollapse.pools import CountPool


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
        if n <= LATTICE_MAX_N:
            # After a step with this n the parameter sits on the lattice c/n: draw by inversion
            # from precomputed tables, several times faster than numpy's per-element set-up.
            c = np.rint(state * n)
            if np.all(np.abs(state * n - c) < 1e-9):
                return lattice_binomial(n).draw(c.astype(np.intp), rng) / n
        return rng.binomial(n, state) / n

    def step_naive(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        hits = rng.random((state.shape[0], n)) < state[:, None]
        return hits.sum(axis=1) / n

    has_pools: ClassVar[bool] = True
    exact_subsample: ClassVar[bool] = True

    def draw_pool(
        self, state: np.ndarray, n: int, rng: np.random.Generator, method: str
    ) -> CountPool:
        ones = self.step(state, n, rng, method) * n
        ones = np.rint(ones).astype(np.int64)
        return CountPool(np.stack([n - ones, ones], axis=1))

    def fit_pool(self, pool: CountPool) -> np.ndarray:
        return pool.counts[:, 1] / pool.size

    def sample(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return (rng.random((state.shape[0], n)) < state[:, None]).astype(float)

    def fit_samples(self, samples: np.ndarray) -> np.ndarray:
        return samples.mean(axis=1)

    def observables(self) -> tuple[Observable, ...]:
        return (
            Observable("p", moments=True, doc="P_k"),
            Observable("survival", doc="Pr(P_k != 0)", indicator=True),
            Observable("nondegenerate", doc="Pr(P_k not in {0, 1})", indicator=True),
            Observable("tv_from_start", moments=True, doc="|P_k - p_0| (total variation)"),
            Observable("kl_from_start", moments=True, doc="KL(Ber(P_k) || Ber(p_0)) in nats"),
        )

    def observe(self, state: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        # Only the requested rows are computed (this runs every recorded generation).
        p0 = self.p

        def kl() -> np.ndarray:
            # KL(Ber(p) || Ber(p0)) = p log(p / p0) + q log(q / q0), q = 1 - p, with 0 log 0 = 0:
            # x log x is evaluated as x log(max(x, tiny)), which is 0 at x = 0 and differs from
            # x log x by less than 1e-300 elsewhere.
            if p0 in (0.0, 1.0):  # the chain never leaves its start: KL = 0
                return np.zeros(state.shape[0])
            tiny = np.finfo(float).tiny
            q = 1.0 - state
            out = np.log(np.maximum(state, tiny))
            out -= math.log(p0)
            out *= state
            t = np.log(np.maximum(q, tiny))
            t -= math.log(1.0 - p0)
            t *= q
            out += t
            return out

        compute = (
            lambda: state,
            lambda: (state > 0).astype(float),
            lambda: ((state > 0) & (state < 1)).astype(float),
            lambda: np.abs(state - p0),
            kl,
        )
        return requested_rows(compute, rows, state.shape[0])

    def events(self) -> tuple[Event, ...]:
        return (
            Event("loss", doc="P_k = 0 (the symbol is forgotten)"),
            Event("fixation", doc="P_k in {0, 1} (absorbed at either end)"),
        )

    def hits(self, state: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        lost = state <= 0.0
        both = (lost, lost | (state >= 1.0))
        return np.stack([both[r] for r in rows])

    @property
    def terminal_event(self) -> str:
        return "fixation"

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("p",)

    def trajectory(self, state: np.ndarray) -> np.ndarray:
        return state[None, :]
