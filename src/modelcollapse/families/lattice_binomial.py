"""Fast exact binomial draws for the Bernoulli chain: inversion with a guide table.

After one generation a Bernoulli parameter is always on the lattice c/n, so each generation draws
Binomial(n, c/n) for a few distinct c. numpy's general sampler redoes its set-up for every
element (it costs O(n p) per draw by inversion, or BTPE's set-up), which makes it the bottleneck
of the whole engine. For n up to ``MAX_N`` we precompute, once per n, the CDF of every
Binomial(n, c/n) and a guide table (Chen and Asau 1974, "On generating random variates from an
empirical distribution"): the draw is X = min{j : F_c(j) > U}, found by starting at the guide
entry for floor(U G) and stepping forward (about two steps on average). This is inversion, as
exact as numpy's own inversion sampler (both compute the CDF in floating point); the absorbing
rows c = 0 and c = n are exact (their CDFs are 0/1 valued).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: Largest n with precomputed tables: (n+1)^2 CDF entries and at most ``GUIDE_ENTRIES`` guide
#: entries, about 25 MiB at n = 1024 (at most four tables are cached).
MAX_N = 1024
#: Guide entries per table (int32): G = clamp(GUIDE_ENTRIES / (n+1)^2, 4, 64) entries per row.
#: A finer guide changes no draw (inversion finds the same j for the same U); it only shortens
#: the forward search: at n = 100, G = 64 (n+1) needs one search step where G = 4 (n+1) needed
#: up to 14, each a round of small numpy calls holding the GIL.
GUIDE_ENTRIES = 1 << 22


class LatticeBinomial:
    """Binomial(n, c/n) draws for integer arrays of c in 0..n."""

    def __init__(self, n: int):
        # scipy.stats takes about a second to import: only Bernoulli runs that draw pay it.
        from scipy import stats

        self.n = n
        c = np.arange(n + 1)
        pmf = stats.binom.pmf(c[None, :], n, c[:, None] / n)
        cdf = np.cumsum(pmf, axis=1)
        cdf[:, -1] = 1.0  # every search ends inside its row
        self.cdf = cdf.ravel()
        # guide[c, g] = min{j : F_c(j) > g / G}, found for all rows at once by offsetting each
        # row by 2c (CDF values lie in [0, 1], so the offset rows stay sorted).
        per_row = min(64, max(4, GUIDE_ENTRIES // ((n + 1) * (n + 1))))
        self.size = per_row * (n + 1)  # a finer guide: fewer forward steps per draw
        grid = np.arange(self.size) / self.size
        offset = 2.0 * c[:, None]
        pos = np.searchsorted(
            (cdf + offset).ravel(), (grid[None, :] + offset).ravel(), side="right"
        )
        self.guide = (pos - np.repeat(c * (n + 1), self.size)).reshape(n + 1, self.size)
        self.guide = self.guide.astype(np.int32)  # halves the largest table

    def draw(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One Binomial(n, counts/n) variate per entry of ``counts`` (integers in 0..n)."""
        u = rng.random(counts.shape[0])
        row = counts * (self.n + 1)
        j = self.guide[counts, (u * self.size).astype(np.intp)].astype(np.intp)
        # Step forward only the draws not yet past u (a shrinking set: about one step each).
        todo = np.flatnonzero(self.cdf[row + j] <= u)
        while todo.size:
            j[todo] += 1
            still = self.cdf[row[todo] + j[todo]] <= u[todo]
            todo = todo[still]
        return j


@lru_cache(maxsize=4)
def lattice_binomial(n: int) -> LatticeBinomial:
    return LatticeBinomial(n)
