"""Categorical (unigram) model over m symbols trained by maximum likelihood (frequencies).

Exact step (SPEC.md section 2): C ~ Multinomial(n, C_prev / n_prev), P_k = C / n. Each symbol's
count is a binomial (Wright-Fisher) chain, so a symbol that reaches count 0 is forgotten for good.
The state is the integer count vector of every trial, never a renormalised float vector: the only
float probability vector ever used is the user's starting p_0, at generation 0.
Corollary 1 of the paper bounds E[number of symbols still alive].

Sampler stage: temperature, top-k and top-p (``modelcollapse.samplers``) change only the law the
next counts are drawn from, so the exact step stays exact: C ~ Multinomial(n, Q) with Q the
transformed C_prev / n_prev (for a temperature T, Q_i proportional to P_i^(1/T)). The naive path
then draws tokens by inverse CDF on Q. A symbol with Q_i = 0 is never drawn on either path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from modelcollapse import limits
from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Event, Family, Observable, check_real_list
from modelcollapse.pools import CountPool

#: Largest allowed deviation of a starting probability vector's sum from 1.
PROB_SUM_TOL = 1e-9
#: The exact step packs each trial's live symbols (``Categorical._packed_step``) when the
#: packed matrix is at most this share of the full width (packing costs about three passes of
#: the count matrix) ...
COMPACT_SHARE = 0.5
#: ... and the family has more than this many symbols.
COMPACT_MIN_SYMBOLS = 16


def check_probabilities(p: Sequence[float] | np.ndarray, field_name: str = "p") -> np.ndarray:
    """A valid probability vector (finite, >= 0, sums to 1 within 1e-9) or ConfigError."""
    check_real_list(field_name, p)
    try:
        arr = np.asarray(p, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(field_name, p, "a list of probabilities") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(field_name, p, "a non-empty one-dimensional list of probabilities")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        bad = arr[~np.isfinite(arr) | (arr < 0)][0]
        raise ConfigError(field_name, float(bad), "every probability must be finite and >= 0")
    total = float(arr.sum())
    if abs(total - 1.0) > PROB_SUM_TOL:
        raise ConfigError(f"sum of {field_name}", total, "probabilities must sum to 1 within 1e-9")
    return arr


def check_counts(counts: Sequence[int] | np.ndarray, field_name: str = "counts") -> np.ndarray:
    """A valid count vector (integers >= 0, not all zero, total within int64) or ConfigError.

    Each count is checked as given, before any conversion to int64: ``1e20`` is named as such
    (numpy's cast would wrap it to -2**63), and a total above 2**63 - 1 is refused (the sum
    would wrap and the starting probabilities would be garbage). A float count must be a whole
    number below 2**53, where floats still hold every integer exactly.
    """
    if isinstance(counts, np.ndarray):
        if counts.dtype.kind in "iu" and counts.ndim == 1 and counts.size:
            # An integer array holds integers by construction: check it whole (a corpus has
            # tens of thousands of counts; the per-item loop below is for lists as given).
            if counts.dtype.kind == "i" and counts.min() < 0:
                raise ConfigError(field_name, int(counts.min()), "counts must be >= 0")
            if counts.max() > limits.INT64_MAX:
                raise ConfigError(
                    field_name, int(counts.max()), f"counts at most {limits.INT64_MAX}"
                )
            limits.check_count_total(field_name, counts)
            arr = counts.astype(np.int64)
            if not arr.any():
                raise ConfigError(field_name, "all zero", "at least one count must be positive")
            return arr
        items: list[Any] = counts.tolist() if counts.ndim == 1 else [counts.tolist()]
    elif isinstance(counts, (list, tuple)):
        items = list(counts)
    else:
        raise ConfigError(field_name, counts, "a non-empty one-dimensional list of counts")
    if not items:
        raise ConfigError(field_name, counts, "a non-empty one-dimensional list of counts")
    values: list[int] = []
    for c in items:
        if isinstance(c, (bool, np.bool_)) or not isinstance(
            c, (int, float, np.integer, np.floating)
        ):
            raise ConfigError(field_name, c, "a list of non-negative integers")
        if isinstance(c, (float, np.floating)):
            if not np.isfinite(c) or c != np.round(c):
                raise ConfigError(field_name, float(c), "counts must be whole numbers")
            if abs(c) > 2.0**53:
                raise ConfigError(
                    field_name,
                    float(c),
                    "whole numbers; write counts above 2**53 as integers "
                    f"(at most {limits.INT64_MAX})",
                )
        c = int(c)
        if c < 0:
            raise ConfigError(field_name, c, "counts must be >= 0")
        if c > limits.INT64_MAX:
            raise ConfigError(field_name, c, f"counts at most {limits.INT64_MAX} (numpy's int64)")
        values.append(c)
    limits.check_count_total(field_name, values)
    arr = np.asarray(values, dtype=np.int64)
    if not arr.any():
        raise ConfigError(field_name, "all zero", "at least one count must be positive")
    return arr


@dataclass(frozen=True, eq=False)
class Categorical(Family):
    """Categorical family started from a probability vector ``p`` or integer ``counts``.

    Exactly one of ``p`` and ``counts`` is given; ``symbols`` optionally names the categories.
    """

    name: ClassVar[str] = "categorical"

    p: np.ndarray | None = None
    counts: np.ndarray | None = None
    symbols: tuple[str, ...] | None = field(default=None, repr=False)
    estimator: str = "ml"

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.p is None) == (self.counts is None):
            raise ConfigError(
                "params",
                "p and counts" if self.p is not None else "none",
                "give exactly one of p (probabilities) or counts",
            )
        if self.p is not None:
            object.__setattr__(self, "p", check_probabilities(self.p))
        else:
            object.__setattr__(self, "counts", check_counts(self.counts))
        if self.symbols is not None and len(self.symbols) != self.m:
            raise ConfigError("symbols", len(self.symbols), f"one name per category ({self.m})")

    @property
    def m(self) -> int:
        """Number of categories (including any with zero probability)."""
        return int((self.p if self.p is not None else self.counts).shape[0])

    @property
    def start(self) -> np.ndarray:
        """Generation-0 weights: the integer counts, or p normalised once to an exact sum."""
        if self.counts is not None:
            return self.counts
        return self.p / self.p.sum()

    @property
    def alive0(self) -> int:
        """Number of symbols with nonzero probability at generation 0 (the m of uniq_frac)."""
        return int(np.count_nonzero(self.start))

    def initial_state(self, trials: int) -> np.ndarray:
        # A read-only broadcast view: the start is the same for every trial, no copies.
        return np.broadcast_to(self.start, (trials, self.m))

    @staticmethod
    def _totals(state: np.ndarray) -> np.ndarray:
        return state.sum(axis=1, keepdims=True)

    sampler_stages: ClassVar[tuple[str, ...]] = ("Temperature", "TopK", "TopP")

    def _law(self, state: np.ndarray) -> np.ndarray:
        """The probabilities the next sample is drawn from (after the sampler's stages)."""
        p = state / self._totals(state)
        s = self.sampler
        return p if s is None else s.probabilities(p)

    def step_exact(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        m = state.shape[1]
        # The packed step draws from the counts themselves: only without a sampler stage.
        if m > COMPACT_MIN_SYMBOLS and state.dtype.kind != "f" and self.sampler is None:
            packed = self._packed_step(state, n, rng)
            if packed is not None:
                return packed
        return rng.multinomial(n, self._law(state))

    @staticmethod
    def _packed_step(state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """The multinomial step on each trial's live symbols only, with the very same draws.

        Dead symbols stay dead, so late in a run a trial has a handful of live symbols out of
        m, but numpy's multinomial sampler walks all m columns of every row. It draws
        Binomial(rest, p_j / remaining) column by column, with no draw at all where p_j = 0,
        and gives the remainder to the last column. So a row packed as [its live symbols among
        the first m - 1, in order; zero padding; the last symbol] receives exactly the draws of
        the full row, in the same order, and the whole block is one call on a matrix as wide as
        the liveliest trial. Returns None where packing would not pay.
        """
        trials, m = state.shape
        live = state != 0
        live[:, -1] = False
        # The flat index search is several times faster than numpy's 2-d nonzero.
        flat = np.flatnonzero(live)
        rows, cols = np.divmod(flat, m)
        alive = np.bincount(rows, minlength=trials)
        width = int(alive.max()) + 1 if rows.size else 1
        if width > COMPACT_SHARE * m:
            return None
        rank = np.arange(rows.size) - np.repeat(np.cumsum(alive) - alive, alive)
        counts = np.zeros((trials, width))
        counts[rows, rank] = state[rows, cols]
        counts[:, -1] = state[:, -1]
        # Integer counts and totals are exact in float64, so p = count / total is bitwise the
        # value the full matrix would give.
        draws = rng.multinomial(n, counts / counts.sum(axis=1, keepdims=True))
        out = np.zeros((trials, m), dtype=np.int64)
        out[rows, cols] = draws[rows, rank]
        out[:, -1] = draws[:, -1]
        return out

    def step_naive(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        rows, m = state.shape
        return np.bincount(self._tokens(state, n, rng).ravel(), minlength=rows * m).reshape(
            rows, m
        )

    def _tokens(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """n token draws per trial as row-major global indices t * m + symbol, (trials, n)."""
        rows, m = state.shape
        if self.sampler is not None:
            q = self._law(state)
            u = rng.random((rows, n))
            out = np.empty((rows, n), dtype=np.int64)
            # Inverse CDF row by row (this is the reference path), each index clipped to the
            # row's last symbol of positive probability so that rounding of the cumulative sum
            # never draws a symbol with Q_i = 0.
            for t in range(rows):
                tok = np.searchsorted(np.cumsum(q[t]), u[t], side="right")
                out[t] = np.minimum(tok, np.flatnonzero(q[t])[-1]) + t * m
            return out
        if state.dtype.kind == "f":
            # Generation 0 from a float probability vector: inverse-CDF sampling, with the last
            # index clipped to the last symbol of positive probability so that a symbol with
            # p = 0 can never be drawn through rounding of the cumulative sum.
            cdf = np.cumsum(state[0])
            tokens = np.searchsorted(cdf, rng.random((rows, n)), side="right")
            tokens = np.minimum(tokens, np.flatnonzero(state[0])[-1])
            flat = tokens + (np.arange(rows) * m)[:, None]
        else:
            counts = state
            totals = counts.sum(axis=1)
            offset = int(totals.max())
            cum = np.cumsum(counts, axis=1) + (np.arange(rows) * offset)[:, None]
            # Integer draws in [0, total): exact token probabilities c_i / total.
            u = (
                rng.integers(0, totals[:, None], size=(rows, n))
                + (np.arange(rows) * offset)[:, None]
            )
            pos = np.searchsorted(cum.ravel(), u.ravel(), side="right")
            flat = pos  # already row-major global category index
        return np.asarray(flat).reshape(rows, n)

    def sample(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """n symbol indices per trial, (trials, n): the sample path (curation filters these)."""
        return self._tokens(state, n, rng) % self.m

    def fit_samples(self, samples: np.ndarray) -> np.ndarray:
        rows = samples.shape[0]
        flat = samples + (np.arange(rows) * self.m)[:, None]
        return np.bincount(flat.ravel(), minlength=rows * self.m).reshape(rows, self.m)

    has_pools: ClassVar[bool] = True
    exact_subsample: ClassVar[bool] = True

    def draw_pool(
        self, state: np.ndarray, n: int, rng: np.random.Generator, method: str
    ) -> CountPool:
        return CountPool(self.step(state, n, rng, method))

    def fit_pool(self, pool: CountPool) -> np.ndarray:
        return pool.counts

    def observables(self) -> tuple[Observable, ...]:
        return (
            Observable("uniq", moments=True, doc="number of symbols with nonzero probability"),
            Observable("uniq_frac", doc="E[uniq_k] / (symbols alive at generation 0)"),
            Observable("entropy", moments=True, doc="Shannon entropy of P_k in nats"),
            Observable("gini_simpson", moments=True, doc="1 - sum_i P_{k,i}^2"),
            Observable("tv_from_start", moments=True, doc="total variation to P_0"),
            Observable("kl_from_start", moments=True, doc="KL(P_k || P_0) in nats"),
        )

    def observe(self, state: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        # Each quantity is a pass over (trials, m): compute only the rows asked for.
        wanted = range(6) if rows is None else rows
        p = state / self._totals(state) if any(r >= 2 for r in wanted) else None
        p0 = self.start / self.start.sum()
        cache: dict[str, np.ndarray] = {}

        def plogp() -> np.ndarray:
            if "plogp" not in cache:
                with np.errstate(divide="ignore", invalid="ignore"):
                    cache["plogp"] = np.where(p > 0, p * np.log(p), 0.0)
            return cache["plogp"]

        def uniq() -> np.ndarray:
            return np.count_nonzero(state, axis=1).astype(float)

        def kl() -> np.ndarray:
            # P_k's support is inside P_0's (dead symbols stay dead), so the KL is finite.
            with np.errstate(divide="ignore", invalid="ignore"):
                cross = np.where(p > 0, p * np.log(np.where(p0 > 0, p0, 1.0)), 0.0)
            return (plogp() - cross).sum(axis=1)

        compute = (
            uniq,
            lambda: uniq() / self.alive0,
            lambda: -plogp().sum(axis=1),
            lambda: 1.0 - (p * p).sum(axis=1),
            lambda: 0.5 * np.abs(p - p0).sum(axis=1),
            kl,
        )
        return np.stack([compute[r]() for r in wanted])

    def events(self) -> tuple[Event, ...]:
        return (
            Event("first_loss", doc="some symbol alive at generation 0 has count 0"),
            Event("total_collapse", doc="one symbol holds all the mass (all others lost)"),
        )

    def hits(self, state: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        # Runs every generation: max/min/sum reductions, several times faster than counting
        # the nonzero entries of each row.

        def first_loss() -> np.ndarray:
            if self.alive0 == self.m:
                return state.min(axis=1) == 0
            return state[:, np.flatnonzero(self.start)].min(axis=1) == 0

        def total_collapse() -> np.ndarray:  # all the mass on one symbol
            return state.max(axis=1) == state.sum(axis=1)

        both = (first_loss, total_collapse)
        return np.stack([both[r]() for r in rows])

    @property
    def terminal_event(self) -> str:
        return "total_collapse"

    def trajectory_fields(self) -> tuple[str, ...]:
        return ("uniq", "entropy")

    def trajectory(self, state: np.ndarray) -> np.ndarray:
        return self.observe(state, (0, 2))

    def state_elements(self) -> int:
        return self.m

    def describe(self) -> dict:
        out = {"family": self.name, "estimator": self.estimator, "m": self.m, "alive0": self.alive0}
        if self.counts is not None:
            out["start"] = "counts"
            out["total_count"] = int(self.counts.sum())
        else:
            out["start"] = "p"
        if self.m <= 1000:
            out["p" if self.p is not None else "counts"] = self.start.tolist()
        if self.sampler is not None:
            out["sampler"] = self.sampler.describe()
        return out
