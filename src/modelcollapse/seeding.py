"""The reproducibility policy: where every random stream comes from.

A run is seeded by an integer or a ``numpy.random.SeedSequence`` (its entropy and its own spawn
key are kept). Two kinds of stream derive from it, each by appending to the spawn key:

- vectorised families advance fixed-size blocks of trials together; block ``b`` of cell ``c``
  draws from spawn key ``(..., c, b)``;
- per-trial models (plug-ins, n-grams) advance one trial at a time; trial ``t`` of cell ``c``
  draws from spawn key ``(..., c, t, PER_TRIAL_TAG)``.

The keys of the two kinds have different lengths, so no block stream is ever a trial stream, and
within a kind distinct (cell, index) give distinct keys (tested: distinct keys and distinct first
draws over a grid). ``cell`` numbers the configurations of a sweep (0 for a single run). Nothing
depends on which worker, thread or process runs a block or trial, so a result is identical for
any number of workers or executor. No global random state is used anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

#: Last element of every per-trial spawn key (block keys never have a third element).
PER_TRIAL_TAG = 1

Seed = int | np.random.SeedSequence


def check_seed(seed: Any) -> Seed:
    """A valid seed: an integer >= 0 or a SeedSequence (ConfigError otherwise)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("seed", seed, "an integer >= 0 or a numpy.random.SeedSequence")
    return int(seed)


def _sequence(seed: Seed, key: tuple[int, ...]) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(
            seed.entropy, spawn_key=tuple(seed.spawn_key) + key, pool_size=seed.pool_size
        )
    return np.random.SeedSequence(int(seed), spawn_key=key)


def block_key(block: int, cell: int = 0) -> tuple[int, int]:
    """The spawn-key suffix of block ``block`` of cell ``cell`` (vectorised families)."""
    return (int(cell), int(block))


def trial_key(trial: int, cell: int = 0) -> tuple[int, int, int]:
    """The spawn-key suffix of trial ``trial`` of cell ``cell`` (per-trial models)."""
    return (int(cell), int(trial), PER_TRIAL_TAG)


def block_generator(seed: Seed, block: int, cell: int = 0) -> np.random.Generator:
    """The generator that drives block ``block`` of cell ``cell`` of a run seeded with ``seed``."""
    return np.random.Generator(np.random.PCG64(_sequence(seed, block_key(block, cell))))


def trial_generator(seed: Seed, trial: int, cell: int = 0) -> np.random.Generator:
    """The generator that drives trial ``trial`` of cell ``cell`` of a per-trial model."""
    return np.random.Generator(np.random.PCG64(_sequence(seed, trial_key(trial, cell))))


def describe_seed(seed: Seed) -> Any:
    """JSON-ready form of a seed, for run.json."""
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": str(seed.entropy), "spawn_key": list(seed.spawn_key)}
    return seed
