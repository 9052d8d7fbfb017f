"""GitHub-flavoured Markdown for ``$GITHUB_STEP_SUMMARY``.

The document reads top-down the way a CI reviewer does: the verdict, counts per outcome, one
table row per package (worst first, so a long lockfile cannot bury a failure below the fold)
with one column per kind of check, then every FAILED and UNVERIFIABLE finding with its expected
and actual values. Status words are plain ASCII (``verified``, ``FAILED``, ``unverifiable``,
``skipped``) so the page reads the same in any font and in a terminal.

Everything that comes from the report is escaped, since package metadata and upstream error
text must never be able to break the table or inject markup. GitHub refuses a step summary
over 1 MiB, so the document is cut at a line boundary below ``max_bytes`` and ends with a note
saying so.
"""

from __future__ import annotations

from verifier import __version__
from verifier.models import Check, Finding, Outcome, Report
from verifier.report.sarif import SEVERITY, packages
from verifier.report.text import package_outcome

MAX_BYTES = 1024 * 1024
"""GitHub's limit for one step's summary."""
MIN_BYTES = 1024
"""Room for the heading and the truncation note."""
MAX_VALUE_CHARS = 2000
"""Longer values (hostile or broken upstream text) are shortened, saying by how much."""

_WORDS = {
    Outcome.VERIFIED: "verified",
    Outcome.FAILED: "FAILED",
    Outcome.UNVERIFIABLE: "unverifiable",
    Outcome.SKIPPED: "skipped",
}
_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>|~&")
"""Inline markup (emphasis, code, links, HTML, entities, strikethrough) and the cell separator.

Block markers (``#``, ``-``, ``+``) need no escape: an escaped value never starts a line.
"""


def _shorten(text: str) -> str:
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return f"{text[:MAX_VALUE_CHARS]}... ({len(text) - MAX_VALUE_CHARS} more characters)"


def escape(text: str) -> str:
    """``text`` as literal Markdown, safe in a table cell: punctuation escaped, no line breaks."""
    text = _shorten(text)
    escaped = "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in text)
    return "<br>".join(escaped.splitlines()) if escaped else escaped


def code(text: str) -> str:
    """``text`` as an inline code span (exact values: digests, URIs, identities)."""
    text = " ".join(_shorten(text).splitlines())
    run = longest = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _heading(report: Report, grouped: dict[str, list[Finding]]) -> list[str]:
    verdict = report.verdict
    statuses: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for findings in grouped.values():
        worst = package_outcome(findings)
        if worst is not None:
            statuses[worst] += 1
    counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for finding in report.findings:
        counts[finding.outcome] += 1
    lines = [
        f"## verify-release: {verdict.value.upper()}",
        "",
        f"**Verdict: {verdict.value.upper()}** (exit code {verdict.exit_code}), "
        f"{len(grouped)} package{'s' if len(grouped) != 1 else ''} checked "
        f"by verify-release {__version__}.",
        "",
        _row(["outcome", "packages", "findings"]),
        "| --- | ---: | ---: |",
    ]
    ordered = sorted(Outcome, key=lambda o: -SEVERITY[o])
    lines.extend(_row([_WORDS[o], str(statuses[o]), str(counts[o])]) for o in ordered)
    root = report.trust_root
    if root is not None:
        lines.extend(["", f"Trust root: {escape(root.description)}"])
    warnings = list(root.warnings if root else ()) + list(report.warnings)
    if warnings:
        lines.extend(["", "Warnings:", ""])
        lines.extend(f"- {escape(warning)}" for warning in warnings)
    return lines


def _table(report: Report, grouped: dict[str, list[Finding]]) -> list[str]:
    present = {f.check for f in report.findings}
    kinds = [check for check in Check if check in present]
    lines = [
        "",
        "### Packages",
        "",
        _row(["package", "status", *(check.value for check in kinds)]),
        _row(["---"] * (len(kinds) + 2)),
    ]
    rows: list[tuple[int, str]] = []
    for label, findings in grouped.items():
        # As the text report reads it: SKIPPED beside VERIFIED is allowed absence, so a fully
        # verified package is "verified", not "skipped" (severity order would say skipped).
        worst = package_outcome(findings)
        cells = [escape(label), _WORDS[worst] if worst else "-"]
        for check in kinds:
            outcome = package_outcome([f for f in findings if f.check is check])
            cells.append(_WORDS[outcome] if outcome else "-")
        rows.append((SEVERITY[worst] if worst else 0, _row(cells)))
    rows.sort(key=lambda row: -row[0])
    lines.extend(row for _, row in rows)
    return lines


def _details(grouped: dict[str, list[Finding]]) -> list[str]:
    lines: list[str] = []
    for label, findings in grouped.items():
        problems = [f for f in findings if f.outcome in (Outcome.FAILED, Outcome.UNVERIFIABLE)]
        problems.sort(key=lambda f: -SEVERITY[f.outcome])
        if not problems:
            continue
        where = next((f.location for f in findings if f.location), None)
        lines.extend(["", f"#### {escape(label)}" + (f" ({code(where)})" if where else ""), ""])
        for finding in problems:
            lines.append(
                f"- **{_WORDS[finding.outcome]}** {code(finding.check.value)} "
                f"{escape(finding.subject)}: {escape(finding.message)}"
            )
            if finding.expected is not None:
                lines.append(f"  - expected: {code(finding.expected)}")
            if finding.actual is not None:
                lines.append(f"  - got: {code(finding.actual)}")
            if finding.policy:
                source = f" [{finding.policy_source}]" if finding.policy_source else ""
                lines.append(f"  - policy: {escape(finding.policy + source)}")
    if lines:
        lines[0:0] = ["", "### Findings that did not verify"]
    return lines


def _note(left_out: int, total: int, max_bytes: int) -> str:
    return (
        f"\n**Truncated:** {left_out} of {total} lines left out to stay under GitHub's "
        f"{max_bytes}-byte step-summary limit; the text or JSON report has everything.\n"
    )


def _truncated(lines: list[str], max_bytes: int) -> str:
    document = "\n".join(lines) + "\n"
    if len(document.encode()) <= max_bytes:
        return document
    reserve = len(_note(len(lines), len(lines), max_bytes).encode())
    kept: list[str] = []
    size = 0
    for line in lines:
        cost = len(line.encode()) + 1
        if size + cost + reserve > max_bytes:
            break
        kept.append(line)
        size += cost
    return "".join(f"{line}\n" for line in kept) + _note(
        len(lines) - len(kept), len(lines), max_bytes
    )


def render_summary(report: Report, *, max_bytes: int = MAX_BYTES) -> str:
    """The report as Markdown of at most ``max_bytes`` UTF-8 bytes (at least 1 KiB)."""
    if max_bytes < MIN_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_BYTES}, not {max_bytes}")
    grouped = packages(report)
    lines = [*_heading(report, grouped), *_table(report, grouped), *_details(grouped)]
    return _truncated(lines, max_bytes)
