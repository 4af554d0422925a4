"""The single-file HTML report: figures embedded as base64 PNG, no scripts, no network."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import jinja2

from modelcollapse.experiments.base import Z_EXACT, Z_PUBLISHED

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("modelcollapse.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def experiment_view(
    exp: Any,
    outcome: Any | None,
    png: Path | None,
    seconds: float,
    error: str | None = None,
    *,
    skipped: bool = False,
) -> dict[str, Any]:
    """The template's view of one experiment (strings only)."""
    view: dict[str, Any] = {
        "id": exp.id,
        "title": exp.title,
        "paper_ref": exp.paper_ref,
        "description": exp.description,
        "time": seconds,
        "error": error,
        "skipped": skipped,
    }
    if outcome is None:
        verdict = error if skipped else f"failed: {error}"
        status = "skipped" if skipped else "failed"
        view.update(ok=skipped, status=status, verdict=verdict, rows=[], notes=[], settings="")
        return view
    verdict, ok = outcome.verdict()
    rows = []
    for c in outcome.comparisons:
        zp = c.z_published
        note = ""
        if c.published is not None and not c.comparable:
            note = f" ({c.reason or 'different setting'}, not compared)"
        elif c.published_has_power is False:
            note = " †"  # a simulated 0 would pass this comparison too
        rows.append(
            {
                "quantity": c.quantity,
                "k": _fmt(c.k),
                "ours": _fmt(c.ours),
                "se": _fmt(c.ours_stderr, 2),
                "theory": _fmt(c.theory),
                "zt": _fmt(c.z_theory, 2),
                "published": _fmt(c.published) + note,
                "zp": _fmt(zp, 2),
            }
        )
    view.update(
        ok=ok,
        status=outcome.status(),
        verdict=verdict,
        rows=rows,
        notes=outcome.notes,
        settings=", ".join(f"{k}={v}" for k, v in outcome.settings.items()),
        png=base64.b64encode(png.read_bytes()).decode("ascii") if png else "",
    )
    return view


#: CSS class of each verdict status: "not checked" must not look like a pass.
STATUS_CLASS = {
    "agrees": "ok",
    "disagrees": "bad",
    "failed": "bad",
    "unchecked": "unchecked",
    "skipped": "muted",
}


def render_report(path: Path, experiments: list[dict[str, Any]], **context: Any) -> None:
    html = _ENV.get_template("report.html").render(
        experiments=experiments,
        status_class=STATUS_CLASS,
        z_exact=Z_EXACT,
        z_published=f"{Z_PUBLISHED:g}",
        **context,
    )
    path.write_text(html, encoding="utf-8")
