"""The human report: one line per file and check, the evidence, then the verdict.

Every non-verified line is followed by the exact expected and actual values and the policy that
made it count, because "verification failed" alone sends a user to read source code.

A lockfile of 176 packages made that a report of 6,075 lines, in which the one failure was
easy to miss. So a run of more than one package is shown compact unless ``verbose``: one line
per package (its outcome and a short reason), then the full lines only for the packages that
FAILED or are UNVERIFIABLE, with identical findings for many files grouped into one line. A
single release keeps every line. The renderer stays a pure function: the caller (the CLI)
passes the terminal's width in, and only the subject column depends on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from verifier import __version__
from verifier.models import Check, Finding, Outcome, ReleaseReport, Report

SUBJECT_COLUMN = 40
"""The widest the subject column is padded to: a longer name overflows its own line only."""
MIN_SUBJECT_COLUMN = 16
DEFAULT_COLUMNS = 100
"""The width assumed when the caller does not know the terminal's."""
SHOWN_NAMES = 3
"""How many subjects a grouped line names before "and N more"."""
_PROBLEMS = (Outcome.FAILED, Outcome.UNVERIFIABLE)
_PER_FILE = frozenset({Check.INDEX_HASH, Check.ATTESTATION, Check.BUNDLE, Check.RELEASE_ASSET})
"""Checks whose subject is a distribution file (a grouped line counts "files")."""


def subject_width(columns: int) -> int:
    """The cap on the subject column for a terminal ``columns`` wide.

    A third of the line at most (the outcome and check columns and the message need the rest),
    never more than ``SUBJECT_COLUMN`` and never so narrow that ordinary names overflow.
    """
    return max(MIN_SUBJECT_COLUMN, min(SUBJECT_COLUMN, columns // 3))


def _evidence_line(finding: Finding) -> str:
    """The certificate's claims (and PyPI's environment) a verified finding rests on."""
    cert = finding.certificate
    shown: list[tuple[str, str | None]] = []
    if cert is not None:
        shown += [
            ("repository", cert.repository),
            ("workflow", cert.build_config_uri),
            ("ref", cert.ref),
            ("commit", cert.commit),
            ("runner", cert.runner_environment),
            ("trigger", cert.trigger),
            ("issuer", cert.issuer),
        ]
    if finding.publisher is not None:
        shown.append(("environment (PyPI record)", finding.publisher.get("environment")))
    return "; ".join(f"{label} {value}" for label, value in shown if value)


def _finding_lines(finding: Finding, width: int) -> list[str]:
    lines = [
        f"  {finding.outcome.value.upper():<13}{finding.check.value:<15}"
        f"{finding.subject:<{width}}  {finding.message}"
    ]
    pad = " " * 17
    if finding.outcome in (Outcome.FAILED, Outcome.UNVERIFIABLE):
        if finding.expected is not None:
            lines.append(f"{pad}expected: {finding.expected}")
        if finding.actual is not None:
            lines.append(f"{pad}got:      {finding.actual}")
    if finding.outcome is Outcome.VERIFIED:
        shown = _evidence_line(finding)
        if shown:
            lines.append(f"{pad}{shown}")
    if finding.outcome is not Outcome.VERIFIED and finding.policy:
        source = f" [{finding.policy_source}]" if finding.policy_source else ""
        lines.append(f"{pad}policy: {finding.policy}{source}")
    if finding.outcome in (Outcome.FAILED, Outcome.UNVERIFIABLE) and finding.hint:
        lines.append(f"{pad}hint: {finding.hint}")
    return lines


def _group_key(finding: Finding) -> tuple[object, ...]:
    """Findings that print the same lines but for their subject."""
    return (
        finding.check,
        finding.outcome,
        finding.message,
        finding.expected,
        finding.actual,
        finding.policy,
        finding.policy_source,
        finding.hint,
        finding.certificate,
        finding.publisher,
    )


def _groups(findings: Sequence[Finding]) -> list[list[Finding]]:
    """``findings`` grouped by everything but the subject, in order of first appearance."""
    grouped: dict[tuple[object, ...], list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(_group_key(finding), []).append(finding)
    return list(grouped.values())


def _noun(findings: Sequence[Finding]) -> str:
    """What a group counts: files, or subjects for checks that are not about one file."""
    return "files" if findings[0].check in _PER_FILE else "subjects"


def _count(findings: Sequence[Finding]) -> str:
    """The group's size as "2,077 files", with thousands separators."""
    return f"{len(findings):,} {_noun(findings)}"


def _group_lines(findings: Sequence[Finding], width: int) -> list[str]:
    """One finding's lines, or for many identical ones a count and a few of their names."""
    if len(findings) == 1:
        return _finding_lines(findings[0], width)
    first = findings[0]
    lines = _finding_lines(dataclasses.replace(first, subject=_count(findings)), width)
    names = ", ".join(f.subject for f in findings[:SHOWN_NAMES])
    rest = len(findings) - SHOWN_NAMES
    more = f" and {rest:,} more" if rest > 0 else ""
    lines.insert(1, f"{' ' * 17}{_noun(findings)}: {names}{more}")
    return lines


def _release_lines(
    release: ReleaseReport, cap: int, *, only_problems: bool = False, group: bool = False
) -> list[str]:
    lines = [f"{release.label}"]
    if release.identity_source:
        expected = release.expected_identity
        if expected:
            who = f"{expected.get('kind')} {expected.get('repository')}"
            if expected.get("workflow"):
                who += f" workflow {expected['workflow']}"
            if expected.get("environment"):
                who += f" environment {expected['environment']}"
            lines.append(f"  expected publisher: {who}")
        lines.append(f"  identity source: {release.identity_source}")
    checks = [f for f in release.findings if f.check is not Check.CROSS_LINK]
    links = [f for f in release.findings if f.check is Check.CROSS_LINK]
    if only_problems:
        checks = [f for f in checks if f.outcome in _PROBLEMS]
        links = [f for f in links if f.outcome in _PROBLEMS]
    if group:
        groups = _groups(checks)
        shown = (_count(g) if len(g) > 1 else g[0].subject for g in groups)
        width = min(max((len(subject) for subject in shown), default=0), cap)
        for findings in groups:
            lines.extend(_group_lines(findings, width))
    else:
        width = min(max((len(f.subject) for f in checks), default=0), cap)
        for finding in checks:
            lines.extend(_finding_lines(finding, width))
    if links:
        lines.append("  chain (what was proven to describe one build):")
        marks = {
            Outcome.VERIFIED: "[ok]  ",
            Outcome.FAILED: "[FAIL]",
            Outcome.SKIPPED: "[--]  ",
            Outcome.UNVERIFIABLE: "[??]  ",
        }
        for link in links:
            lines.append(f"    {marks[link.outcome]} {link.message}")
            if link.outcome is Outcome.FAILED:
                lines.append(f"           expected: {link.expected}")
                lines.append(f"           got:      {link.actual}")
    return lines


def _worst(findings: Sequence[Finding]) -> Outcome | None:
    """A package's outcome as the verdict reads it: a problem, else verified, else skipped.

    SKIPPED beside VERIFIED is allowed absence (the run can still verify), so it does not
    outrank VERIFIED here as it does when findings are sorted by severity.
    """
    outcomes = {f.outcome for f in findings}
    for outcome in (Outcome.FAILED, Outcome.UNVERIFIABLE, Outcome.VERIFIED, Outcome.SKIPPED):
        if outcome in outcomes:
            return outcome
    return None


package_outcome = _worst
"""The one rule for a package's shown outcome; the step summary's table uses it too."""


def counted(findings: Iterable[Finding]) -> str:
    """The outcomes of the lines a report shows, as "4 verified, 2 skipped; chain: 3 verified".

    Chain links are counted apart from the checks, because they are shown apart. A skipped
    link is never counted: it only says that one end is missing, and that end's own check
    (a bundle or tag line, SKIPPED or worse) is already counted: a fully verified release
    must not read as having "skipped" something it does not show.
    """

    def tally(items: Sequence[Finding]) -> str:
        counts: dict[Outcome, int] = {}
        for finding in items:
            counts[finding.outcome] = counts.get(finding.outcome, 0) + 1
        return ", ".join(f"{n:,} {o.value}" for o, n in counts.items())

    shown = list(findings)  # Report.findings is a generator: read it once
    checks = tally([f for f in shown if f.check is not Check.CROSS_LINK])
    links = tally(
        [f for f in shown if f.check is Check.CROSS_LINK and f.outcome is not Outcome.SKIPPED]
    )
    return "; ".join(part for part in (checks, f"chain: {links}" if links else "") if part)


def _reason(findings: Sequence[Finding]) -> str:
    """Why a package has its outcome, in a few words: its worst finding, or the counts."""
    worst = _worst(findings)
    if worst is None:
        return "no findings"
    if worst not in _PROBLEMS:
        return counted(findings)
    groups = _groups([f for f in findings if f.outcome is worst])
    first = groups[0]
    count = f"{_count(first)}: " if len(first) > 1 else ""
    reason = f"{first[0].check.value}: {count}{first[0].message}"
    others = sum(len(_groups([f for f in findings if f.outcome is o])) for o in _PROBLEMS) - 1
    if others:
        reason += f" (and {others:,} more {'problem' if others == 1 else 'problems'})"
    return reason


def _compact_lines(report: Report, cap: int) -> list[str]:
    """One line per package, then the full lines of every package that FAILED or UNVERIFIABLE."""
    width = min(max((len(r.label) for r in report.releases), default=0), cap)
    lines = []
    for release in report.releases:
        worst = _worst(release.findings)
        word = worst.value.upper() if worst else "NO FINDINGS"
        lines.append(f"  {word:<13}{release.label:<{width}}  {_reason(release.findings)}")
    lines.append("")
    problems = [r for r in report.releases if _worst(r.findings) in _PROBLEMS]
    if problems:
        lines.append("details of what FAILED or is UNVERIFIABLE (-v shows every line):")
        lines.append("")
    for release in problems:
        lines.extend(_release_lines(release, cap, only_problems=True, group=True))
        lines.append("")
    return lines


def render_text(report: Report, *, verbose: bool = False, columns: int = DEFAULT_COLUMNS) -> str:
    """The whole report as text, ending with the verdict line.

    ``verbose`` shows every line of every package even for a run of many; ``columns`` is the
    terminal's width, which caps the subject column (see ``subject_width``).
    """
    cap = subject_width(columns)
    lines = [f"verify-release {__version__}"]
    if report.trust_root is not None:
        root = report.trust_root
        expiry = ""
        if root.expires:
            expiry = f"; metadata {'EXPIRED' if root.expired else 'expires'} {root.expires}"
        lines.append(f"trust root: {root.description}{expiry}")
    lines.append("")
    if len(report.releases) > 1 and not verbose:
        lines.extend(_compact_lines(report, cap))
    else:
        for release in report.releases:
            lines.extend(_release_lines(release, cap))
            lines.append("")
    summary = counted(report.findings)
    lines.append(
        f"verdict: {report.verdict.value.upper()} (exit {report.verdict.exit_code})"
        + (f" - {summary}" if summary else "")
    )
    return "\n".join(lines) + "\n"
