"""Time to total collapse of a categorical model started from n distinct symbols.

A categorical model over K symbols retrained on n samples per generation is the neutral
Wright-Fisher model: C_k ~ Multinomial(n, C_{k-1} / n) is what one gets when each of the n new
samples picks a "parent" among the n previous ones uniformly at random and copies its symbol.
Total collapse (one symbol holds all the mass) at generation k therefore means that all n
samples of generation k descend from one sample of generation 0 *when the start holds every
symbol once* (K = n, uniform p_0): then two samples share a symbol exactly when they share a
generation-0 ancestor.

Traced backwards, the number of distinct ancestors of the n samples is a Markov chain on
{1, ..., n} (each of j lineages picks its parent uniformly among n; the number of distinct
parents follows the classical occupancy law), decreasing and absorbed at 1 (e.g. Ewens 2004,
"Mathematical Population Genetics", section 3.7, for the Wright-Fisher genealogy). So

    Pr(T <= k) = Pr(the ancestral chain goes from n to 1 within k steps),

and E[T] is the chain's mean hitting time of 1, exact (no diffusion limit) and computed in O(n^2)
by back substitution because the chain only moves down. The diffusion value
-2n sum_i (1 - p_i) ln(1 - p_i) (Kimura and Ohta 1969, "The average number of generations until
fixation of a mutant gene in a finite population", Genetics 61, for the time until one of K
alleles is fixed) is given for comparison; for p_i = 1/n it is close to, but not, the exact value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.errors import ConfigError
from modelcollapse.theory._validate import as_generations, as_sample_size

#: Largest n for the exact chain ((n + 1)^2 transition probabilities are held in memory).
MAX_EXACT_N = 5000


def occupancy_matrix(n: int) -> NDArray[np.float64]:
    """P[j, i] = Pr(j lineages choose exactly i distinct parents among n), j, i in 0..n.

    Row j is the law of the number of distinct values in j uniform draws from n, built draw by
    draw: after one more draw the count stays at i with probability i / n and grows from i - 1
    with probability (n - i + 1) / n.
    """
    n = as_sample_size(n)
    if n > MAX_EXACT_N:
        raise ConfigError("n", n, f"at most {MAX_EXACT_N} for the exact ancestral chain")
    i = np.arange(n + 1, dtype=float)
    stay = i / n
    grow = (n - i + 1) / n  # entering i from i - 1
    out = np.zeros((n + 1, n + 1))
    out[0, 0] = 1.0
    for j in range(1, n + 1):
        prev = out[j - 1]
        out[j] = prev * stay
        out[j, 1:] += prev[:-1] * grow[1:]
    return out


def total_collapse_mean_time(n: int) -> float:
    """Exact E[T], T = first generation at which one symbol holds all n samples, for the
    categorical model started from n symbols held once each (p_0 uniform over K = n symbols).

    Mean hitting time of 1 from n of the ancestral chain (module docstring):
    h_1 = 0 and h_j = (1 + sum_{i<j} P[j, i] h_i) / (1 - P[j, j]), where 1 - P[j, j] is taken as
    sum_{i<j} P[j, i] (no cancellation when P[j, j] is close to 1).
    """
    n = as_sample_size(n)
    if n == 1:
        return 0.0
    p = occupancy_matrix(n)
    h = np.zeros(n + 1)
    for j in range(2, n + 1):
        row = p[j, 1:j]
        h[j] = (1.0 + row @ h[1:j]) / row.sum()
    return float(h[n])


def total_collapse_cdf(n: int, k: ArrayLike) -> NDArray[np.float64]:
    """Exact Pr(T <= k) for the start of :func:`total_collapse_mean_time` (row n of P^k)."""
    n = as_sample_size(n)
    ks = as_generations(k)
    p = occupancy_matrix(n)
    state = np.zeros(n + 1)
    state[n] = 1.0
    top = int(ks.max()) if ks.size else 0
    cdf = np.empty(top + 1)
    for g in range(top + 1):
        cdf[g] = state[1]
        state = state @ p
    return cdf[ks]


def diffusion_total_collapse_time(p: ArrayLike, n: int) -> float:
    """Diffusion approximation -2n sum_i (1 - p_i) ln(1 - p_i) of E[T] (Kimura and Ohta 1969)."""
    n = as_sample_size(n)
    q = 1.0 - np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
    return float(-2.0 * n * terms.sum())


__all__ = [
    "MAX_EXACT_N",
    "diffusion_total_collapse_time",
    "occupancy_matrix",
    "total_collapse_cdf",
    "total_collapse_mean_time",
]
