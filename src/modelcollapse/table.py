"""A small column table (dict of equal-length numpy arrays) without a pandas dependency.

Summaries are long ("tidy"): one row per (generation, metric) with ``value`` and ``stderr``.
DuckDB reads such a dict directly, so tables go to Parquet and SQL without conversion.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


class Table:
    """Named columns of equal length. ``table["value"]`` is a column; ``len(table)`` its rows."""

    def __init__(self, columns: Mapping[str, Any]):
        cols = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        self._cols = cols

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name]

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()))) if self._cols else 0

    def __contains__(self, name: object) -> bool:
        return name in self._cols

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(self._cols)

    def where(self, **equal: Any) -> Table:
        """Rows whose columns equal the given values, e.g. ``summary.where(metric="survival")``."""
        mask = np.ones(len(self), dtype=bool)
        for key, value in equal.items():
            mask &= self._cols[key] == value
        return Table({k: v[mask] for k, v in self._cols.items()})

    def records(self) -> list[dict[str, Any]]:
        """Rows as plain-Python dicts (JSON-ready: NaN becomes None)."""
        out = []
        keys = self.columns
        lists = [self._cols[k].tolist() for k in keys]
        for row in zip(*lists, strict=True):
            out.append(
                {
                    k: (None if isinstance(v, float) and v != v else v)
                    for k, v in zip(keys, row, strict=True)
                }
            )
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def to_pandas(self) -> Any:
        import pandas as pd  # optional: only for users who want a DataFrame

        return pd.DataFrame(self._cols)

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.columns)})"

    def format(self, max_rows: int = 40) -> str:
        """A plain-text rendering for terminals."""
        keys = self.columns
        rows = self.records()
        shown = rows if len(rows) <= max_rows else rows[: max_rows // 2] + rows[-max_rows // 2 :]

        def fmt(v: Any) -> str:
            if v is None:
                return "-"
            if isinstance(v, float):
                return f"{v:.6g}"
            return str(v)

        cells = [[fmt(r[k]) for k in keys] for r in shown]
        widths = [max([len(k)] + [len(c[i]) for c in cells]) for i, k in enumerate(keys)]
        lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
        for i, c in enumerate(cells):
            if len(rows) > max_rows and i == max_rows // 2:
                lines.append(f"... ({len(rows) - max_rows} more rows)")
            lines.append("  ".join(x.rjust(w) for x, w in zip(c, widths, strict=True)))
        return "\n".join(lines)
