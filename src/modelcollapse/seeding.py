"""The reproducibility policy: where every random stream comes from.

Every stream is ``Generator(PCG64(SeedSequence(seed, spawn_key=(cell, block))))``: ``cell``
numbers the configurations of a sweep (0 for a single run) and ``block`` numbers the fixed-size
blocks of trials. Nothing depends on which worker, thread or process runs a block, so a result is
identical for any number of workers or executor. No global random state is used anywhere.
"""

from __future__ import annotations

import numpy as np


def block_generator(seed: int, block: int, cell: int = 0) -> np.random.Generator:
    """The generator that drives block ``block`` of cell ``cell`` of a run seeded with ``seed``."""
    sequence = np.random.SeedSequence(int(seed), spawn_key=(int(cell), int(block)))
    return np.random.Generator(np.random.PCG64(sequence))
