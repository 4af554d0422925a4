"""What ``simulate`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from modelcollapse.engine.observers import Observer
    from modelcollapse.families.base import Family


@dataclass
class SimulationResult:
    """The result of a run.

    ``summary`` is a long ("tidy") pandas DataFrame: columns ``generation``, ``metric``,
    ``value``, ``stderr`` (the Monte Carlo standard error of ``value``). ``trajectories`` (when
    requested) has columns ``generation``, ``trial`` and one per parameter of the family.
    ``observers`` are the observers the run used, the user's own among them, after the run.
    """

    config: dict[str, Any]
    summary: pd.DataFrame
    trajectories: pd.DataFrame | None = None
    elapsed_s: float = 0.0
    family: Family | None = field(default=None, repr=False)
    observers: list[Observer] = field(default_factory=list, repr=False)
    #: The finished run's plan, from which the observers build their files on demand.
    plan: Any = field(default=None, repr=False)

    @property
    def files(self) -> dict[str, pd.DataFrame]:
        """Extra tables of the observers for the run directory (e.g. ``words.parquet``), built
        when asked for (a run that is not saved does not pay for them)."""
        out: dict[str, pd.DataFrame] = {}
        for obs in self.observers:
            out.update(obs.files(self.plan) or {})
        return out

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(generations, values, standard errors) of one metric."""
        from modelcollapse.families.base import resolve_metric

        name = resolve_metric(name, self.summary["metric"].tolist())
        rows = self.summary[self.summary["metric"] == name]
        if len(rows) == 0:
            known = sorted(set(self.summary["metric"].tolist()))
            raise KeyError(f"no metric {name!r}; this run has: {', '.join(known)}")
        return (
            rows["generation"].to_numpy(),
            rows["value"].to_numpy(),
            rows["stderr"].to_numpy(),
        )

    def value(self, name: str, generation: int | None = None) -> float:
        """One value of a metric: at ``generation``, or its last (e.g. ``time_to[...]`` stats)."""
        gens, values, _ = self.metric(name)
        if generation is None:
            return float(values[-1])
        hit = np.flatnonzero(gens == generation)
        if hit.size == 0:
            raise KeyError(f"metric {name!r} has no row at generation {generation}")
        return float(values[hit[0]])

    @property
    def generations_run(self) -> int:
        """The last generation of the run (less than the horizon when ``until`` stopped it)."""
        return int(self.config.get("generations_run", self.config.get("generations", 0)))

    def save(self, out: str, *, overwrite: bool = False) -> str:
        """Write the run directory (summary.parquet, run.json, trajectories.parquet)."""
        from modelcollapse.store import write_run  # store sits below; imported lazily for speed

        return str(write_run(out, self, overwrite=overwrite))
