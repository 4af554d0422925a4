"""Plain-text and JSON renderings of pandas DataFrames for the command line."""

from __future__ import annotations

import math
from typing import Any


def records(frame: Any) -> list[dict[str, Any]]:
    """Rows as plain-Python dicts, JSON-ready (NaN and NA become None)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def format_frame(frame: Any, max_rows: int = 40) -> str:
    """A right-aligned plain-text table; the middle rows are elided beyond ``max_rows``."""
    keys = [str(c) for c in frame.columns]
    rows = records(frame)
    shown = rows if len(rows) <= max_rows else rows[: max_rows // 2] + rows[-max_rows // 2 :]

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v)

    cells = [[fmt(r[k]) for k in frame.columns] for r in shown]
    widths = [max([len(k)] + [len(c[i]) for c in cells]) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True))]
    for i, c in enumerate(cells):
        if len(rows) > max_rows and i == max_rows // 2:
            lines.append(f"... ({len(rows) - max_rows} more rows)")
        lines.append("  ".join(x.rjust(w) for x, w in zip(c, widths, strict=True)))
    return "\n".join(lines)
