"""Metrics of plug-in models, each averaged over trials with its standard error.

At every recorded generation k, for each trial, with m = ``reference_size``:

- ``heldout_loglik``: the mean log-density (1/m) sum_j log p_k(y_j) of the trial's reference
  sample y_1..y_m of real data under model k (plug-ins with ``log_prob``; NaN at generation 0,
  which has no fitted model);
- ``sample_mean``/``sample_var`` (one-dimensional data) or ``sample_mean[i]``/``sample_cov[i,j]``:
  the mean and the covariance (divisor m - 1) of m points sampled from model k;
- ``energy_distance``: between those m model points x and the reference y, the V-statistic
  sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|) over the two empirical distributions (Szekely and
  Rizzo 2013, "Energy statistics"; scipy.stats.energy_distance in one dimension);
- ``wasserstein1`` (one-dimensional data): W1 between the two empirical distributions, the
  integral of |F_x - F_y| (scipy.stats.wasserstein_distance);
- each user metric ``metric(fitted, real)`` on model k's fitted object and the reference sample
  (NaN at generation 0).

A metric's value is its mean over trials and ``stderr`` is s / sqrt(trials). The reference sample
and the model points come from a stream of their own, keyed by (seed, cell, trial) with a key
length (4) that neither block streams (2) nor trial streams (3) have (``modelcollapse.seeding``),
so measuring never changes the training trajectory and results stay identical for any executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcollapse.engine.observers import Block, Observer, tidy
from modelcollapse.moments import Moments

#: Third element of the metric streams' spawn-key suffix (cell, trial, METRIC_TAG, 0).
METRIC_TAG = 2


def metric_generator(seed: Any, trial: int, cell: int = 0) -> np.random.Generator:
    """The stream of the metrics of trial ``trial`` of cell ``cell``."""
    key = (int(cell), int(trial), METRIC_TAG, 0)
    if isinstance(seed, np.random.SeedSequence):
        seq = np.random.SeedSequence(
            seed.entropy, spawn_key=tuple(seed.spawn_key) + key, pool_size=seed.pool_size
        )
    else:
        seq = np.random.SeedSequence(int(seed), spawn_key=key)
    return np.random.Generator(np.random.PCG64(seq))


def has_log_prob(plugin: Any) -> bool:
    flag = getattr(plugin, "has_log_prob", None)
    if flag is not None:
        return bool(flag)
    return callable(getattr(plugin, "log_prob", None))


def sample_metric_names(shape: tuple[int, ...] | None) -> tuple[str, ...]:
    if shape is None:
        return ()
    d = int(np.prod(shape))
    if d == 1:
        return ("sample_mean", "sample_var", "energy_distance", "wasserstein1")
    means = tuple(f"sample_mean[{i}]" for i in range(d))
    covs = tuple(f"sample_cov[{i},{j}]" for i in range(d) for j in range(i, d))
    return (*means, *covs, "energy_distance")


def plugin_metric_names(model: Any) -> tuple[str, ...]:
    """Every metric a PluginModel can report, in a fixed order."""
    names: list[str] = []
    if has_log_prob(model.plugin):
        names.append("heldout_loglik")
    names.extend(sample_metric_names(model.data_shape))
    names.extend(model.user_metrics)
    return tuple(names)


def cdf_distances(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(W1, energy distance) of two one-dimensional samples from one merged sort.

    With F, G the empirical CDFs: W1 = integral |F - G| and energy = sqrt(2 integral (F - G)^2)
    (the identity 2 E|X-Y| - E|X-X'| - E|Y-Y'| = 2 integral (F - G)^2; Szekely and Rizzo 2013),
    both exact for step functions: sums over the gaps of the pooled sorted values.
    """
    xs, ys = np.sort(x), np.sort(y)
    pooled = np.sort(np.concatenate([xs, ys]))
    gaps = np.diff(pooled)
    diff = (
        np.searchsorted(xs, pooled[:-1], side="right") / xs.size
        - np.searchsorted(ys, pooled[:-1], side="right") / ys.size
    )
    return float(np.abs(diff) @ gaps), float(np.sqrt(2.0 * ((diff * diff) @ gaps)))


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|) of two empirical distributions (rows are points)."""
    if x.shape[1] == 1:
        return cdf_distances(x[:, 0], y[:, 0])[1]
    from scipy.spatial.distance import cdist

    xy = cdist(x, y).mean()
    xx = cdist(x, x).mean()
    yy = cdist(y, y).mean()
    return float(np.sqrt(max(2 * xy - xx - yy, 0.0)))


@dataclass
class TrialValues:
    """One trial's metric values at its recorded generations (the accumulator)."""

    trial: int
    rng: np.random.Generator | None
    reference: np.ndarray | None
    gens: list[int] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)

    def table(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Columns: generation, share (real fraction), and one per metric."""
        vals = np.array(self.values, dtype=float).reshape(len(self.gens), len(names))
        cols = {"generation": np.asarray(self.gens, dtype=np.int64),
                "share": np.asarray(self.shares, dtype=float)}
        for i, name in enumerate(names):
            cols[name] = vals[:, i]
        return cols


class PluginMetrics(Observer):
    """The plug-in metrics observer (added by ``simulate`` for every PluginModel run)."""

    def __init__(self, keep: Sequence[str] | None = None):
        self.keep = None if keep is None else list(keep)

    def metric_names(self, family: Any) -> tuple[str, ...]:
        return plugin_metric_names(family)

    def describe(self) -> Any:
        return {"keep": self.keep}

    def setup(self, run: Any) -> None:
        fam = run.family
        self._family = fam
        self._seed, self._cell = run.seed, run.cell
        names = plugin_metric_names(fam)
        self.names = tuple(m for m in names if self.keep is None or m in self.keep)
        self._sampled = any(m in self.names for m in sample_metric_names(fam.data_shape))
        self._total: Moments | None = None
        self._gens: np.ndarray | None = None
        self.trials: list[TrialValues] = []

    def start(self, run: Any, block: Block) -> TrialValues:
        rng = metric_generator(self._seed, block.index, self._cell)
        ref = None
        if self.names:
            ref = self._family.real.draw(self._family.reference_size, rng)
        return TrialValues(block.index, rng, ref)

    def observe(self, acc: TrialValues, generation: int, state: Any, share: Any) -> None:
        acc.gens.append(generation)
        acc.shares.append(1.0 if share is None else float(np.asarray(share).ravel()[0]))
        if self.names:
            acc.values.append(self._measure(acc, generation, state))

    def _measure(self, acc: TrialValues, generation: int, state: Any) -> np.ndarray:
        from modelcollapse.models.plugin import PluginError

        fam, ref, names = self._family, acc.reference, self.names
        fitted = state.fitted
        out: dict[str, float] = {}
        m = fam.reference_size
        if self._sampled:
            x = fam.generate(state, m, acc.rng)
            xf = x.reshape(m, -1)
            yf = ref.reshape(len(ref), -1)
            d = xf.shape[1]
            mean = xf.mean(axis=0)
            cov = np.atleast_2d(np.cov(xf, rowvar=False))
            if d == 1:
                out["sample_mean"], out["sample_var"] = float(mean[0]), float(cov[0, 0])
                out["wasserstein1"], out["energy_distance"] = cdf_distances(xf[:, 0], yf[:, 0])
            else:
                for i in range(d):
                    out[f"sample_mean[{i}]"] = float(mean[i])
                    for j in range(i, d):
                        out[f"sample_cov[{i},{j}]"] = float(cov[i, j])
            if d > 1 and "energy_distance" in names:
                out["energy_distance"] = energy_distance(xf, yf)
        if "heldout_loglik" in names:
            if fitted is None:
                out["heldout_loglik"] = np.nan
            else:
                try:
                    lp = np.asarray(fam.plugin.log_prob(fitted, ref), dtype=float)
                except Exception as exc:
                    raise PluginError(
                        f"log_prob raised {type(exc).__name__}: {exc}", generation=generation
                    ) from exc
                if lp.shape != (len(ref),):
                    raise PluginError(
                        f"log_prob returned shape {lp.shape}, expected ({len(ref)},)",
                        generation=generation,
                    )
                out["heldout_loglik"] = float(lp.mean())
        for name, fn in fam.user_metrics.items():
            if name not in names:
                continue
            if fitted is None:
                out[name] = np.nan
                continue
            try:
                out[name] = float(fn(fitted, ref))
            except Exception as exc:
                raise PluginError(
                    f"metric {name!r} raised {type(exc).__name__}: {exc}", generation=generation
                ) from exc
        return np.array([out[k] for k in names], dtype=float)

    def fold(self, run: Any, acc: TrialValues) -> None:
        acc.rng = acc.reference = None  # spent: what is kept is the values
        self.trials.append(acc)
        if not self.names:
            return
        gens = np.asarray(acc.gens, dtype=np.int64)
        vals = np.array(acc.values, dtype=float).reshape(len(gens), len(self.names))
        part = Moments.of(vals[..., None])
        if self._total is None:
            self._total, self._gens = Moments.zeros(vals.shape), gens
        elif not np.array_equal(gens, self._gens):
            raise ValueError(f"trial {acc.trial} recorded other generations than trial 0")
        self._total.merge(part)

    def rows(self, run: Any) -> Any:
        if self._total is None or not self.names:
            return None
        k = len(self.names)
        gens = self._gens
        return tidy(
            np.repeat(gens, k),
            np.tile(np.asarray(self.names, dtype=object), len(gens)),
            self._total.mean.ravel(),
            self._total.stderr_of_mean().ravel(),
        )

    def frame(self) -> Any:
        """Every trial's values: columns trial, generation, share and one per metric."""
        import pandas as pd

        parts = []
        for acc in self.trials:
            cols = acc.table(self.names)
            parts.append(pd.DataFrame({"trial": np.full(len(acc.gens), acc.trial), **cols}))
        return pd.concat(parts, ignore_index=True) if parts else None
