"""A vectorised family whose generated data is filtered before the refit (curation).

A filter (``samplers.Curation``, or the regression family's verifier) keeps the generated samples
a score ranks highest; the kept samples' law has no finite sufficient statistic in general, so a
curated family has no exact step and no pools: every generation draws candidates on the sample
path (``Family.sample``), keeps n of them (``samplers.curate``) and applies the estimator to them
(``Family.fit_samples``). Workflows therefore keep raw (curated) samples. Everything else
(observables, events, trajectories) is the wrapped family's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.families.base import BLOCK_ELEMENTS, SCALAR_BLOCK_TRIALS, Family, Observable


@dataclass(frozen=True, eq=False)
class Curated(Family):
    """``inner`` with its generated data filtered by ``curation``."""

    name: ClassVar[str] = "curated"
    has_exact: ClassVar[bool] = False
    has_pools: ClassVar[bool] = False

    inner: Family | None = None
    curation: Any = None
    estimator: str = ""

    def __post_init__(self) -> None:
        # The estimator is the inner family's (checked there); the wrapper only reports it.
        object.__setattr__(self, "estimator", self.inner.estimator)
        object.__setattr__(self, "name", self.inner.name)

    def __getattr__(self, attr: str) -> Any:
        # Family-specific extras (eps, check_n, symbol_counts, ...) are the inner family's.
        if attr.startswith("__") or attr in ("inner", "curation"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    # -- the generation step: the sample path, filtered ----------------------------------
    def initial_state(self, trials: int) -> Any:
        return self.inner.initial_state(trials)

    def sample(self, state: Any, n: int, rng: np.random.Generator) -> np.ndarray:
        from modelcollapse.samplers import curate

        return curate(lambda m: self.inner.sample(state, m, rng), n, self.curation)

    def fit_samples(self, samples: np.ndarray) -> Any:
        return self.inner.fit_samples(samples)

    def step_exact(self, state: Any, n: int, rng: np.random.Generator) -> Any:
        raise NotImplementedError("a curated family has only the sample path")

    def unsampled(self) -> Family:
        # Real data is drawn as it is: neither curated nor through the inner law stages.
        return self.inner.unsampled()

    def step_naive(self, state: Any, n: int, rng: np.random.Generator) -> Any:
        return self.fit_samples(self.sample(state, n, rng))

    def step(self, state: Any, n: int, rng: np.random.Generator, method: str) -> Any:
        return self.step_naive(state, n, rng)

    # -- sizing: candidates, not kept samples, fill the memory ----------------------------
    def block_trials(self, method: str, n: int) -> int:
        event = max(1, int(getattr(self.inner, "event_size", 1)))
        per_trial = self.inner.state_elements() + 2 * self.curation.candidates(n) * event
        return int(max(1, min(SCALAR_BLOCK_TRIALS, BLOCK_ELEMENTS // per_trial)))

    def state_elements(self) -> int:
        return self.inner.state_elements()

    # -- reporting: the inner family's -------------------------------------------------------
    def observables(self) -> tuple[Observable, ...]:
        return self.inner.observables()

    def observe(self, state: Any, rows: Sequence[int] | None = None) -> np.ndarray:
        return self.inner.observe(state, rows)

    def trajectory_fields(self) -> tuple[str, ...]:
        return self.inner.trajectory_fields()

    def trajectory(self, state: Any) -> np.ndarray:
        return self.inner.trajectory(state)

    def events(self) -> tuple:
        return self.inner.events()

    def hits(self, state: Any, rows: Sequence[int]) -> np.ndarray:
        return self.inner.hits(state, rows)

    @property
    def terminal_event(self) -> str | None:
        return self.inner.terminal_event

    def describe(self) -> dict[str, Any]:
        out = self.inner.describe()
        out["sampler"] = [*out.get("sampler", []), self.curation.describe()]
        return out
