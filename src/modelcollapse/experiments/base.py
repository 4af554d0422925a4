"""What an experiment is: settings, a run, a figure and the published values it is compared with.

Each experiment of ``modelcollapse reproduce`` is a module in this package that registers one or
more ``Experiment`` objects by id. Running one returns an ``Outcome``: the numbers behind the
figure (a tidy table), the comparison rows (ours, exact theory, published), the figure and notes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Half-width of the reading error of values read off the published figures (SPEC.md section 5).
READING_ERROR = 0.02
#: |z| above which a simulated value is said to disagree with exact theory. With a Gaussian
#: error this is a two-sided 1e-4 false-alarm rate per point.
Z_EXACT = 3.89


class ExperimentSkipped(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised by an experiment that cannot run here for a known reason (e.g. no text corpus).

    The report lists it as skipped with the reason; it does not count as a failure.
    """


@dataclass(frozen=True)
class Context:
    """How to run: ``scale`` is "paper" (the paper's trial counts), "large" (100 times more
    where that stays under a few minutes) or "quick" (a tenth, at least 50: a smoke test of the
    pipeline, not a result); ``corpus`` is the text file for the text experiments."""

    scale: str = "paper"
    seed: int = 20250101
    corpus: Path | None = None
    corpus_label: str = ""
    workers: int = 1

    def trials(self, paper: int, large_cap: int | None = None) -> int:
        """The paper's trial count, or 100 times it (capped) at the large scale."""
        if self.scale == "paper":
            return paper
        if self.scale == "quick":
            return min(paper, max(paper // 10, 50))
        big = paper * 100
        return min(big, large_cap) if large_cap else big


#: A published value agrees with ours when |ours - published| is below this many combined errors
#: sqrt(se^2 + READING_ERROR^2).
Z_PUBLISHED = 3.0


@dataclass
class Comparison:
    """One row of comparison.csv.

    ``comparable`` is False where the published value was made in another setting; ``reason``
    says which (e.g. "other corpus", "other estimator") and is shown next to the value.
    """

    experiment: str
    quantity: str
    k: float | None
    ours: float | None
    ours_stderr: float | None = None
    theory: float | None = None
    published: float | None = None
    comparable: bool = True
    reason: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "quantity": self.quantity,
            "k": self.k,
            "ours": self.ours,
            "ours_stderr": self.ours_stderr,
            "theory": self.theory,
            "published": self.published,
        }

    @property
    def z_theory(self) -> float | None:
        if None in (self.ours, self.theory) or not self.ours_stderr:
            return None
        return (self.ours - self.theory) / self.ours_stderr

    def _published_scale(self) -> float:
        return math.sqrt((self.ours_stderr or 0.0) ** 2 + READING_ERROR**2)

    @property
    def z_published(self) -> float | None:
        """Difference from the published value in units of the combined error (ours and reading)."""
        if None in (self.ours, self.published) or not self.comparable:
            return None
        return (self.ours - self.published) / self._published_scale()

    @property
    def published_has_power(self) -> bool | None:
        """Whether the published comparison can fail: False where a simulated 0 would pass it
        too (|published| <= Z_PUBLISHED combined errors), so agreeing there says nothing; None
        where there is no comparison."""
        if self.z_published is None:
            return None
        return abs(self.published) > Z_PUBLISHED * self._published_scale()


@dataclass
class Outcome:
    table: Any  # a pandas DataFrame: the numbers behind the figure
    comparisons: list[Comparison]
    figure: Any
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def status(self) -> str:
        """"agrees", "disagrees" or "unchecked".

        The verdict rests on the exact theory where there is one (a z-test with power at every
        point); only where no exact value exists does it rest on the published values, and then
        only on the comparisons that a simulated 0 would fail. Without either nothing was
        checked, which is not a pass.
        """
        zt = [abs(c.z_theory) for c in self.comparisons if c.z_theory is not None]
        if zt:
            return "agrees" if max(zt) <= Z_EXACT else "disagrees"
        zp = [abs(c.z_published) for c in self.comparisons if c.published_has_power]
        if zp:
            return "agrees" if max(zp) <= Z_PUBLISHED else "disagrees"
        return "unchecked"

    def verdict(self) -> tuple[str, bool]:
        """A one-line verdict (thresholds printed) and whether nothing disagrees."""
        zt = [abs(c.z_theory) for c in self.comparisons if c.z_theory is not None]
        pub = [c for c in self.comparisons if c.z_published is not None]
        status = self.status()
        parts = []
        if zt:
            bad = sum(z > Z_EXACT for z in zt)
            parts.append(
                f"simulation vs exact theory: max |z| = {max(zt):.2f} over {len(zt)} points, "
                + (f"{bad} beyond |z| = {Z_EXACT}" if bad else f"all within |z| < {Z_EXACT} (agrees)")
            )
        if pub:
            within = sum(abs(c.z_published) <= Z_PUBLISHED for c in pub)
            powerless = sum(not c.published_has_power for c in pub)
            role = "informative" if zt else "the verdict"
            parts.append(
                f"vs published ({role}): {within}/{len(pub)} within {Z_PUBLISHED:g} combined "
                f"errors (reading error ±{READING_ERROR})"
                + (
                    f", of which {powerless} would also pass with a simulated 0 (no power)"
                    if powerless
                    else ""
                )
            )
        skipped = [c for c in self.comparisons if c.published is not None and not c.comparable]
        if skipped:
            reasons = sorted({c.reason or "different setting" for c in skipped})
            parts.append(
                f"{len(skipped)} published values not compared ({', '.join(reasons)}; see notes)"
            )
        if status == "unchecked":
            parts.append(
                "not checked: no exact theory and no published value with power; see the figure"
            )
        return "; ".join(parts) + ".", status != "disagrees"


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str
    paper_ref: str
    description: str
    run: Callable[[Context], Outcome]


REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.id in REGISTRY:
        raise ValueError(f"experiment id {experiment.id!r} registered twice")
    REGISTRY[experiment.id] = experiment
    return experiment


def series_table(
    series: Sequence[tuple[str, Sequence[float], Sequence[float], Sequence[float] | None]],
) -> Any:
    """Long table (a pandas DataFrame) of named curves: columns series, k, value, stderr (NaN for theory curves)."""
    names, ks, values, errors = [], [], [], []
    for name, k, value, stderr in series:
        k = np.asarray(k, dtype=float)
        names += [name] * len(k)
        ks.append(k)
        values.append(np.asarray(value, dtype=float))
        errors.append(
            np.full(len(k), np.nan) if stderr is None else np.asarray(stderr, dtype=float)
        )
    import pandas as pd

    return pd.DataFrame(
        {
            "series": np.asarray(names, dtype=object),
            "k": np.concatenate(ks) if ks else np.empty(0),
            "value": np.concatenate(values) if values else np.empty(0),
            "stderr": np.concatenate(errors) if errors else np.empty(0),
        }
    )


def curve_rows(
    experiment: str,
    quantity: str,
    k: np.ndarray,
    values: np.ndarray,
    where: Mapping[int, float | None] | Sequence[int],
    stderr: np.ndarray | None = None,
    exact: np.ndarray | None = None,
    comparable: bool = True,
    reason: str = "",
) -> list[Comparison]:
    """Comparison rows of one curve at chosen generations: ``where`` lists the generations, or
    maps each to its published value."""
    published = dict(where) if isinstance(where, Mapping) else dict.fromkeys(where)
    return [
        Comparison(
            experiment,
            quantity,
            float(kv),
            at(k, values, kv),
            None if stderr is None else at(k, stderr, kv),
            None if exact is None else at(k, exact, kv),
            pv,
            comparable=comparable,
            reason=reason,
        )
        for kv, pv in published.items()
    ]


def at(k_grid: np.ndarray, values: np.ndarray, k: float) -> float:
    """The value of a curve at generation k (exact match required)."""
    idx = np.flatnonzero(np.asarray(k_grid) == k)
    if idx.size == 0:
        raise KeyError(f"generation {k} not in the curve")
    return float(np.asarray(values)[idx[0]])
