"""Renderers: pure functions from a ``Report`` to text; none of them does I/O."""

from __future__ import annotations

from verifier.models import Report

FORMATS = ("text", "json", "sarif", "summary")
"""Every ``fmt`` that ``render`` accepts."""


def render(report: Report, fmt: str) -> str:
    """Render ``report`` in ``fmt``: ``text``, ``json``, ``sarif`` (2.1.0) or ``summary``.

    ``summary`` is GitHub-flavoured Markdown for ``$GITHUB_STEP_SUMMARY``. Any other ``fmt``
    falls back to ``text``.
    """
    if fmt == "json":
        from verifier.report.json import render_json

        return render_json(report)
    if fmt == "sarif":
        from verifier.report.sarif import render_sarif

        return render_sarif(report)
    if fmt == "summary":
        from verifier.report.summary import render_summary

        return render_summary(report)
    from verifier.report.text import render_text

    return render_text(report)
