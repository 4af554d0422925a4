"""The per-trial kind of model, as the generation loop sees it.

A vectorised family advances the whole block of trials in one call; a per-trial model is one
model object per trial, fitted to data and sampled on its own (DESIGN.md, "One loop, two kinds of
model"). :class:`PerTrialModel` is a :class:`~modelcollapse.families.base.Family` whose blocks
hold exactly one trial, so every part of the loop (workflows, schedules, seeding, observers,
progress, storage) is shared; the only differences are that each trial's random stream is keyed
by (seed, cell, trial) (``modelcollapse.seeding.trial_generator``) and that there is no exact
step. A subclass provides:

- ``start()``: the generation-0 state of one trial (the real model, and the real data);
- ``generate(state, n, rng)``: n synthetic data points from the model in ``state``;
- ``refit(data, rng)``: the state of the model fitted to ``data`` (a fresh model: a plug-in is
  never mutated across generations);
- ``observables()`` and ``values(state)``: the per-trial numbers the summary averages.

The sampler stage (``modelcollapse.samplers``): a model that can sample at a temperature (or
with top-k, top-p, truncation) lists those stages in ``sampler_stages`` and reads
``self.sampler`` in its ``generate``; curation filters need nothing from the model: ``draw``
applies them to whatever ``generate`` returns through ``samplers.curate`` (the score sees the
generated data array with a trial axis of 1 in front: (1, m, *event)).

States of per-trial models are a single trial's; ``observe`` and ``trajectory`` return arrays of
shape (quantities, 1) as the loop expects of a block of one trial.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.families.base import Family


@dataclass(frozen=True, eq=False)
class PerTrialModel(Family):
    """Base class of per-trial models (one trial per block, its own random stream)."""

    per_trial: ClassVar[bool] = True
    has_exact: ClassVar[bool] = False

    @abstractmethod
    def start(self) -> Any:
        """The generation-0 state of one trial."""

    @abstractmethod
    def generate(self, state: Any, n: int, rng: np.random.Generator) -> Any:
        """``n`` synthetic data points from the model of ``state``."""

    @abstractmethod
    def refit(self, data: Any, rng: np.random.Generator) -> Any:
        """The state of a fresh model fitted to ``data``."""

    @abstractmethod
    def values(self, state: Any) -> Sequence[float]:
        """One number per observable, in ``observables()`` order."""

    # -- the Family interface, for a block of one trial ------------------------------------
    def initial_state(self, trials: int) -> Any:
        if trials != 1:
            raise ValueError("a per-trial model runs one trial per block")
        return self.start()

    def step_exact(self, state: Any, n: int, rng: np.random.Generator) -> Any:
        raise NotImplementedError(f"{self.name} is a per-trial model: it has no exact step")

    def step_naive(self, state: Any, n: int, rng: np.random.Generator) -> Any:
        return self.refit(self.draw(state, n, rng), rng)

    def draw(self, state: Any, n: int, rng: np.random.Generator) -> Any:
        """``generate``, through the sampler's curation filter when there is one."""
        curation = self.__dict__.get("_curation")
        if curation is None:
            return self.generate(state, n, rng)
        from modelcollapse.samplers import curate

        return curate(lambda m: self.generate(state, m, rng), n, curation, batched=False)

    def curated(self, curation: Any) -> PerTrialModel:
        out = copy.copy(self)
        object.__setattr__(out, "_curation", curation)
        return out

    def unsampled(self) -> PerTrialModel:
        # Real data (draws from the generation-0 state) is neither tempered nor curated.
        if "_sampler" not in self.__dict__ and "_curation" not in self.__dict__:
            return self
        out = copy.copy(self)
        out.__dict__.pop("_sampler", None)
        out.__dict__.pop("_curation", None)
        return out

    def block_trials(self, method: str, n: int) -> int:
        return 1

    def observe(self, state: Any, rows: Sequence[int] | None = None) -> np.ndarray:
        values = np.asarray(self.values(state), dtype=float)[:, None]
        return values if rows is None else values[list(rows)]

    def trajectory_fields(self) -> tuple[str, ...]:
        return tuple(obs.name for obs in self.observables())

    def trajectory(self, state: Any) -> np.ndarray:
        return self.observe(state)
