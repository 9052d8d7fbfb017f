"""Renderers: pure functions from a ``Report`` to text; none of them does I/O."""

from __future__ import annotations

from verifier.models import Report


def render(report: Report, fmt: str) -> str:
    """Render ``report`` in ``fmt`` (``text`` or ``json``)."""
    if fmt == "json":
        from verifier.report.json import render_json

        return render_json(report)
    from verifier.report.text import render_text

    return render_text(report)
