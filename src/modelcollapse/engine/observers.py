"""Observers: what the generation loop records, kept out of the loop itself.

The loop (``modelcollapse.engine.loop``) knows nothing of what is recorded. It hands each
observer the state of a block of trials at each recorded generation (or at every generation,
for observers that set ``every = True``), the way Keras and PyTorch Lightning callbacks see a
training loop. Trials run in fixed blocks, possibly on several threads or processes, so an
observer keeps one *accumulator* per block (``start``/``observe``) and the loop folds the
accumulators in block order (``fold``): a result never depends on how many workers ran.

Hooks, in call order:

- ``check(family)``: while ``simulate`` validates its input (raise ``ConfigError`` here: bad
  input is refused before a single draw); ``setup(run)``: once, before any work;
- ``start(run, block) -> acc``: a fresh accumulator for one block of trials;
- ``observe(acc, generation, state, share)``: the block's state (trials on the leading axis) at
  generation ``generation``; ``share`` is the real-data fraction of the training data under a
  workflow (None under replace);
- ``fold(run, acc)``: in block order, in the main process;
- ``finish(run)`` and ``rows(run) -> DataFrame | None``: tidy summary rows
  (``generation, metric, value, stderr``) this observer adds to ``result.summary``;
  ``files(run) -> {name: DataFrame}``: tables written into the run directory.

Observers can also be named (``observers=["forgetting"]``, ``--observer forgetting``): see
``NAMED``.

A user observer subclasses :class:`Observer` and overrides what it needs; with ``workers > 1``
its accumulators must not share mutable state (each block gets its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcollapse.families.base import Observable
from modelcollapse.moments import Moments

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Recorded generations buffered per block before they are reduced to moments.
WINDOW = 64
#: Quantiles of hitting times reported in the summary (besides the median).
HIT_QUANTILES = (0.1, 0.25, 0.75, 0.9)


@dataclass(frozen=True)
class Block:
    """A block of trials: its index (the seeding key), first trial and number of trials."""

    index: int
    first: int
    size: int


def tidy(generation: Any, metric: Any, value: Any, stderr: Any) -> pd.DataFrame:
    """A tidy summary frame; scalars broadcast against arrays."""
    import pandas as pd

    gen = np.asarray(generation, dtype=np.int64)
    size = max(np.size(gen), np.size(metric), np.size(value), np.size(stderr))
    return pd.DataFrame(
        {
            "generation": np.broadcast_to(gen, size).copy(),
            "metric": np.broadcast_to(np.asarray(metric, dtype=object), size).copy(),
            "value": np.broadcast_to(np.asarray(value, dtype=float), size).copy(),
            "stderr": np.broadcast_to(np.asarray(stderr, dtype=float), size).copy(),
        }
    )


class Observer:
    """Base class of observers; every hook has a do-nothing default."""

    #: Called at every generation (True) or only at the recorded ones (False).
    every: bool = False

    def metric_names(self, family: Any) -> tuple[str, ...]:
        """Summary metrics this observer can contribute (for ``metrics=`` selection)."""
        return ()

    def check(self, family: Any) -> None:
        """Refuse a family this observer cannot watch (raise ConfigError), before any work."""

    def setup(self, run: Any) -> None:
        """Prepare for ``run`` (a :class:`~modelcollapse.engine.loop.RunPlan`)."""

    def start(self, run: Any, block: Block) -> Any:
        return None

    def observe(self, acc: Any, generation: int, state: Any, share: np.ndarray | None) -> None:
        """Record generation ``generation`` of one block."""

    def fold(self, run: Any, acc: Any) -> None:
        """Merge one block's accumulator (blocks arrive in order)."""

    def finish(self, run: Any) -> None:
        """After the last fold; ``run.last`` is the final generation."""

    def rows(self, run: Any) -> pd.DataFrame | None:
        """Tidy summary rows, or None."""
        return None

    def files(self, run: Any) -> dict[str, pd.DataFrame]:
        """Extra tables for the run directory, by file name (written as Parquet)."""
        return {}

    def describe(self) -> Any:
        """The settings that make this observer record what it records (JSON-able, or a string).

        Part of a checkpoint's fingerprint (``modelcollapse.engine.executors``) with the class's
        qualified name, so that trials stored with one observer are never folded into a run with
        another. Default: the class's own ``repr`` when it defines one, else None (the class
        name alone). Override it when an observer has settings and no ``repr`` showing them.
        """
        if type(self).__repr__ is not object.__repr__:
            return repr(self)
        return None


#: Observers a user can ask for by name: name -> "module:Class" (imported when asked for).
NAMED: dict[str, str] = {
    "forgetting": "modelcollapse.forgetting:ForgettingObserver",
}


def named_observer(name: str) -> Observer:
    """A fresh observer of a registered name (ConfigError naming the allowed ones)."""
    import importlib

    from modelcollapse.errors import ConfigError

    if name not in NAMED:
        raise ConfigError("observer", name, f"one of: {', '.join(sorted(NAMED))}")
    module, _, cls = NAMED[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


# ---- summary moments -------------------------------------------------------------------


@dataclass
class _MomentsAcc:
    size: int
    shift: np.ndarray  # (WINDOW, rows): the first trial's value, per generation and row
    sums: np.ndarray  # (WINDOW, 4, rows): power sums s1..s4 of the shifted values
    ones: np.ndarray  # (trials,): s1 as one matrix-vector product
    gens: list[int] = field(default_factory=list)
    parts: list[tuple[np.ndarray, Moments]] = field(default_factory=list)


class SummaryMoments(Observer):
    """Means (and variances, with standard errors) across trials of the family's observables.

    Each recorded generation of a block is reduced at once, while its values are still in cache,
    to power sums of the values shifted by the block's first trial; up to ``WINDOW`` generations
    are then turned into count, mean and central sums M2..M4 together
    (``Moments.from_power_sums``), and blocks merge with Pebay's formulas in block order, so the
    summary is bit-identical for any number of workers.

    Only what the kept metrics need is computed: an observable whose variance is reported needs
    s1..s4 (the standard error of a variance needs M4, and merging M4 needs M3); one reported by
    its mean only needs s1 and s2 (mean and its standard error); a 0/1 ``indicator`` needs only
    s1, since y^2 = |y| for y = x - shift in {-1, 0, 1} with one sign, so s2 = |s1|.
    """

    def __init__(self, observables: Sequence[Observable], family_rows: Sequence[int], share: bool,
                 keep: Sequence[str] | None):
        self.observables = tuple(observables)
        self.family_rows = list(family_rows)
        self.share = share
        self.keep = None if keep is None else list(keep)
        self._total: Moments | None = None
        self._gens: np.ndarray = np.empty(0, dtype=np.int64)
        # Buffer layout: [variance reported][mean only][indicators][real_fraction, if any], so
        # each kind of reduction is one call on a contiguous slice.
        fam = [(i, obs) for i, obs in zip(self.family_rows, self.observables, strict=False)]

        def order(obs: Observable) -> int:
            if obs.moments and (self.keep is None or f"{obs.name}_var" in self.keep):
                return 4
            return 1 if obs.indicator else 2

        ranked = sorted(range(len(fam)), key=lambda j: -order(fam[j][1]))  # stable
        self._request = [fam[j][0] for j in ranked]
        self._k4 = sum(order(fam[j][1]) == 4 for j in ranked)
        self._k2 = sum(order(fam[j][1]) >= 2 for j in ranked)
        self._n_ind = len(ranked) - self._k2
        self._col = {j: pos for pos, j in enumerate(ranked)}  # observable -> buffer row
        if share:
            self._col[len(self.observables) - 1] = len(ranked)
        self._n_rows = len(ranked) + (1 if share else 0)

    def describe(self) -> Any:
        return {
            "observables": [repr(o) for o in self.observables],
            "family_rows": self.family_rows,
            "share": self.share,
            "keep": self.keep,
        }

    def start(self, run: Any, block: Block) -> _MomentsAcc:
        r = self._n_rows
        return _MomentsAcc(
            block.size, np.empty((WINDOW, r)), np.zeros((WINDOW, 4, r)), np.ones(block.size)
        )

    def observe(self, acc: _MomentsAcc, generation: int, state: Any, share: Any) -> None:
        j = len(acc.gens)
        if self._request:
            values = run_family_observe(self._family, state, self._request)
            if self.share:
                values = np.concatenate([values, np.empty((1, acc.size))])
        else:
            values = np.empty((1, acc.size))
        if self.share:
            values[-1] = 1.0 if share is None else share
        # ``Family.observe`` may return views of the state (one requested row often is the
        # state): the values are only read here, shifted into a new array.
        if values.dtype != np.float64 or not values.flags.c_contiguous:
            values = np.array(values, dtype=np.float64, order="C")
        shift = values[:, 0].copy()
        sums = acc.sums[j]
        k2, k4, n_ind = self._k2, self._k4, self._n_ind
        if k2:
            head = values[:k2] - shift[:k2, None]
            # Sums as BLAS products (a matrix-vector product for s1, dot products for the
            # rest): several times faster than numpy's reductions at a block's size.
            sums[0, :k2] = head @ acc.ones
            for i in range(k2):
                row = head[i]
                sums[1, i] = row @ row
            for i in range(k4):
                row = head[i]
                sq = row * row
                sums[2, i] = sq @ row
                sums[3, i] = sq @ sq
        for i in range(k2, k2 + n_ind):
            # A 0/1 row needs no shifting: s1 = (number of ones) - N x0, exactly.
            sums[0, i] = np.count_nonzero(values[i]) - acc.size * shift[i]
            sums[1, i] = abs(sums[0, i])
        if self.share:
            row = values[-1] - shift[-1]
            sums[0, -1] = row @ acc.ones
            sums[1, -1] = row @ row
        acc.shift[j] = shift
        acc.gens.append(generation)
        if len(acc.gens) == WINDOW:
            self._flush(acc)

    def _flush(self, acc: _MomentsAcc) -> None:
        w = len(acc.gens)
        if w:
            s = acc.sums[:w]
            part = Moments.from_power_sums(
                acc.size, acc.shift[:w].copy(), s[:, 0], s[:, 1], s[:, 2], s[:, 3]
            )
            # M3 and M4 of the rows whose variance is not reported are not computed: keep them
            # at zero rather than the meaningless values the conversion gives them.
            part.m3[:, self._k4 :] = 0.0
            part.m4[:, self._k4 :] = 0.0
            acc.parts.append((np.asarray(acc.gens, dtype=np.int64), part))
            acc.gens.clear()
            acc.sums[:w] = 0.0

    def setup(self, run: Any) -> None:
        self._family = run.family
        self._total = None
        self._gens = np.empty(0, dtype=np.int64)

    def fold(self, run: Any, acc: _MomentsAcc) -> None:
        self._flush(acc)
        for gens, part in acc.parts:
            self._merge(gens, part)
        acc.parts.clear()

    def _merge(self, gens: np.ndarray, part: Moments) -> None:
        # Rows are keyed by generation; the table grows as later generations arrive (a run
        # stopped by ``until`` does not know its horizon in advance).
        if self._gens.size == 0 or gens[-1] > self._gens[-1] or not np.all(
            np.isin(gens, self._gens)
        ):
            merged = np.union1d(self._gens, gens)
            n_obs = part.mean.shape[1]
            grown = Moments.zeros((merged.size, n_obs))
            if self._total is not None:
                at = np.searchsorted(merged, self._gens)
                for name in ("n", "mean", "m2", "m3", "m4"):
                    getattr(grown, name)[at] = getattr(self._total, name)
            self._total, self._gens = grown, merged
        self._total.merge(part, where=np.searchsorted(self._gens, gens))

    def finish(self, run: Any) -> None:
        # Keep the recorded grid up to the final generation (a block stopped early also
        # recorded its own last generation, which is dropped unless it is the run's last).
        keep = np.isin(self._gens, run.recorded())
        if self._total is not None and not np.all(keep):
            self._total = Moments(*(getattr(self._total, k)[keep] for k in ("n", "mean", "m2", "m3", "m4")))
            self._gens = self._gens[keep]

    def rows(self, run: Any) -> pd.DataFrame | None:
        total, recorded = self._total, self._gens
        if total is None:
            return None
        values, errors, names = [], [], []
        se_mean = total.stderr_of_mean()
        var = total.variance()
        se_var = total.stderr_of_variance()
        for k, obs in enumerate(self.observables):
            i = self._col[k]
            if obs.moments:
                pairs = [
                    (f"{obs.name}_mean", total.mean[:, i], se_mean[:, i]),
                    (f"{obs.name}_var", var[:, i], se_var[:, i]),
                ]
            else:
                pairs = [(obs.name, total.mean[:, i], se_mean[:, i])]
            for name, v, e in pairs:
                if self.keep is None or name in self.keep:
                    names.append(name)
                    values.append(v)
                    errors.append(e)
        k = len(names)
        if k == 0:
            return None
        return tidy(
            np.repeat(recorded, k),
            np.tile(np.asarray(names, dtype=object), len(recorded)),
            np.stack(values, axis=1).ravel(),
            np.stack(errors, axis=1).ravel(),
        )


def run_family_observe(family: Any, state: Any, rows: Sequence[int]) -> np.ndarray:
    values = family.observe(state, rows)
    if len(values) != len(rows):  # a family that ignores ``rows`` returns them all
        values = values[list(rows)]
    return values


# ---- trajectories ----------------------------------------------------------------------


class Trajectories(Observer):
    """The parameters of the first ``trials`` trials at every recorded generation."""

    def __init__(self, trials: int):
        self.trials = int(trials)
        self._parts: dict[int, dict[int, np.ndarray]] = {}

    def describe(self) -> Any:
        return {"trials": self.trials}

    def setup(self, run: Any) -> None:
        self._family = run.family
        self._parts = {}

    def start(self, run: Any, block: Block) -> Any:
        lo, hi = block.first, min(block.first + block.size, self.trials)
        return (lo, hi, {}) if hi > lo else None

    def observe(self, acc: Any, generation: int, state: Any, share: Any) -> None:
        if acc is None:
            return
        lo, hi, store = acc
        store[generation] = np.array(self._family.trajectory(state)[:, : hi - lo])

    def fold(self, run: Any, acc: Any) -> None:
        if acc is None:
            return
        lo, _, store = acc
        for g, values in store.items():
            self._parts.setdefault(g, {})[lo] = values

    def frame(self, run: Any) -> pd.DataFrame | None:
        import pandas as pd

        recorded = [g for g in run.recorded() if g in self._parts]
        if not recorded or self.trials == 0:
            return None
        fields_ = self._family.trajectory_fields()
        n_traj = min(self.trials, run.trials)
        cols: dict[str, Any] = {
            "generation": np.repeat(np.asarray(recorded, dtype=np.int64), n_traj),
            "trial": np.tile(np.arange(n_traj, dtype=np.int64), len(recorded)),
        }
        stacked = np.stack(
            [np.concatenate([v for _, v in sorted(self._parts[g].items())], axis=1)
             for g in recorded]
        )  # (generations, fields, trials)
        for i, name in enumerate(fields_):
            cols[name] = stacked[:, i, :].ravel()
        return pd.DataFrame(cols)


# ---- hitting times (time to collapse) ---------------------------------------------------


def hit_metric_names(event: str) -> tuple[str, ...]:
    stats = ["mean", "median", *(f"q{round(100 * q)}" for q in HIT_QUANTILES)]
    return (f"reached[{event}]", *(f"time_to[{event}]_{s}" for s in stats))


@dataclass
class _HitAcc:
    first: np.ndarray  # (events, trials) first generation in the event, -1 if not yet
    waiting: int  # trials not yet in the ``until`` event
    count: list[int]  # trials now in each absorbing event
    wait: np.ndarray | None = None  # trials not yet in every event (row-state families)


class HittingTimes(Observer):
    """First generation at which each trial enters each collapse event (SPEC.md section 7).

    Summary: ``reached[E]`` = Pr(T_E <= k) at every recorded generation k, and at the final
    generation ``time_to[E]_mean`` (with its standard error; NaN while some trial has not yet
    reached E, since the mean of a right-censored time is unknown), ``_median`` and quantiles
    ``_q10 .. _q90`` (NaN where fewer than that share of trials have reached E). The standard
    error of a quantile is half the distance between the order statistics at ranks
    N q -+ sqrt(N q (1 - q)) (a binomial 68% band), an estimate that needs no density.
    """

    every = True

    def __init__(self, events: Sequence[str], until: str | None = None, keep: Sequence[str] | None = None):
        self.events = tuple(events)
        self.until = until
        self.keep = None if keep is None else list(keep)

    def metric_names(self, family: Any) -> tuple[str, ...]:
        return tuple(m for e in self.events for m in hit_metric_names(e))

    def describe(self) -> Any:
        return {"events": list(self.events), "until": self.until, "keep": self.keep}

    def setup(self, run: Any) -> None:
        names = [e.name for e in run.family.events()]
        self._rows = [names.index(e) for e in self.events]
        absorbing = {e.name: e.absorbing for e in run.family.events()}
        # Under other workflows real data can bring a trial back out of an "absorbing" state
        # (a lost symbol redrawn from the real data), so only replace gets the counting shortcut.
        simple = getattr(run, "simple", False)
        self._absorbing = [simple and absorbing[e] for e in self.events]
        self._subset = bool(self._absorbing) and all(self._absorbing)
        self._until = None if self.until is None else self.events.index(self.until)
        self._family = run.family
        self._hist: list[np.ndarray] = [np.zeros(1, dtype=np.int64) for _ in self.events]
        self._censored = np.zeros(len(self.events), dtype=np.int64)

    def start(self, run: Any, block: Block) -> _HitAcc:
        return _HitAcc(
            np.full((len(self.events), block.size), -1, dtype=np.int64),
            block.size,
            [0] * len(self.events),
        )

    def observe(self, acc: _HitAcc, generation: int, state: Any, share: Any) -> None:
        if self._subset and isinstance(state, np.ndarray) and state.ndim == 2:
            self._observe_waiting(acc, generation, state)
            return
        hits = self._family.hits(state, self._rows)
        changed = False
        for i, absorbing in enumerate(self._absorbing):
            row = hits[i]
            if absorbing:
                # A trial never leaves an absorbing event, so the count of trials in it grows
                # exactly when some trial enters: one count per generation, usually the only
                # work done here.
                count = int(np.count_nonzero(row))
                if count == acc.count[i]:
                    continue
                acc.count[i] = count
            fresh = row & (acc.first[i] < 0)
            if absorbing or fresh.any():
                acc.first[i, fresh] = generation
                changed = True
        if changed and self._until is not None:
            acc.waiting = int(np.count_nonzero(acc.first[self._until] < 0))

    def _observe_waiting(self, acc: _HitAcc, generation: int, state: np.ndarray) -> None:
        """Test only the trials that have not entered every event yet.

        For a state with a row of numbers per trial (a categorical count vector) the test is a
        pass over the whole matrix; when all events are absorbing, a trial that has entered all
        of them needs no more testing, and late in a run to total collapse that is nearly every
        trial (the run lasts as long as its slowest trial).
        """
        wait = acc.wait
        if wait is None:
            wait = acc.wait = np.arange(acc.first.shape[1])
        if wait.size == 0:
            return
        # Gathering the waiting rows copies them: worth it only when they are few.
        whole = 2 * wait.size > acc.first.shape[1]
        hits = self._family.hits(state if whole else state[wait], self._rows)
        changed = False
        for i in range(len(self.events)):
            row = hits[i][wait] if whole else hits[i]
            fresh = row & (acc.first[i, wait] < 0)
            if fresh.any():
                acc.first[i, wait[fresh]] = generation
                changed = True
        if changed:
            acc.wait = np.flatnonzero((acc.first < 0).any(axis=0))
            if self._until is not None:
                acc.waiting = int(np.count_nonzero(acc.first[self._until] < 0))

    def done(self, acc: _HitAcc) -> bool:
        """Whether every trial of the block has entered the ``until`` event."""
        return acc.waiting == 0

    def fold(self, run: Any, acc: _HitAcc) -> None:
        for i, first in enumerate(acc.first):
            seen = first[first >= 0]
            self._censored[i] += first.size - seen.size
            if seen.size:
                h = np.bincount(seen)
                if h.size > self._hist[i].size:
                    h[: self._hist[i].size] += self._hist[i]
                    self._hist[i] = h
                else:
                    self._hist[i][: h.size] += h

    def histogram(self, event: str) -> tuple[np.ndarray, int]:
        """(counts of trials entering ``event`` at each generation 0..last, censored count)."""
        i = self.events.index(event)
        return self._hist[i], int(self._censored[i])

    def rows(self, run: Any) -> pd.DataFrame | None:
        import pandas as pd

        recorded = np.asarray(run.recorded(), dtype=np.int64)
        frames = []
        for i, event in enumerate(self.events):
            hist, censored = self._hist[i], int(self._censored[i])
            total = int(hist.sum()) + censored
            cum = np.cumsum(hist)
            at = cum[np.minimum(recorded, cum.size - 1)] / total
            p = at
            se = np.sqrt(np.maximum(p * (1 - p), 0.0) / max(total - 1, 1))
            names = hit_metric_names(event)
            frames.append(tidy(recorded, names[0], at, se))
            gens = np.arange(hist.size, dtype=float)
            if censored == 0 and total > 0:
                mean = float((gens * hist).sum() / total)
                var = float(((gens - mean) ** 2 * hist).sum() / max(total - 1, 1))
                stats = [(names[1], mean, math.sqrt(var / total))]
            else:
                stats = [(names[1], math.nan, math.nan)]
            for name, q in zip(names[2:], (0.5, *HIT_QUANTILES), strict=True):
                stats.append((name, *_quantile(cum, total, q)))
            last = int(recorded[-1])
            frames.append(
                tidy(last, [s[0] for s in stats], [s[1] for s in stats], [s[2] for s in stats])
            )
        out = pd.concat(frames, ignore_index=True)
        if self.keep is not None:
            out = out[out["metric"].isin(self.keep)]
        return out


def _order_stat(cum: np.ndarray, rank: float) -> float:
    """The generation of the ceil(rank)-th smallest hitting time (NaN if censored)."""
    r = max(1, math.ceil(rank))
    if r > cum[-1]:
        return math.nan
    return float(np.searchsorted(cum, r))


def _quantile(cum: np.ndarray, total: int, q: float) -> tuple[float, float]:
    value = _order_stat(cum, q * total)
    half = math.sqrt(total * q * (1 - q))
    lo = _order_stat(cum, max(q * total - half, 1.0))
    hi = _order_stat(cum, min(q * total + half, total))
    return value, 0.5 * (hi - lo) if math.isfinite(hi) and math.isfinite(lo) else math.nan
