"""The human report: one line per file and check, the evidence, then the verdict.

Every non-verified line is followed by the exact expected and actual values and the policy that
made it count, because "verification failed" alone sends a user to read source code.
"""

from __future__ import annotations

from verifier import __version__
from verifier.models import Check, Finding, Outcome, ReleaseReport, Report


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


def _release_lines(release: ReleaseReport) -> list[str]:
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
    width = max((len(f.subject) for f in checks), default=0)
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


def render_text(report: Report) -> str:
    """The whole report as text, ending with the verdict line."""
    lines = [f"verify-release {__version__}"]
    if report.trust_root is not None:
        root = report.trust_root
        expiry = ""
        if root.expires:
            expiry = f"; metadata {'EXPIRED' if root.expired else 'expires'} {root.expires}"
        lines.append(f"trust root: {root.description}{expiry}")
    lines.append("")
    for release in report.releases:
        lines.extend(_release_lines(release))
        lines.append("")
    warnings = list(report.trust_root.warnings if report.trust_root else ()) + list(report.warnings)
    for warning in warnings:
        lines.append(f"warning: {warning}")
    counts: dict[Outcome, int] = {}
    for finding in report.findings:
        counts[finding.outcome] = counts.get(finding.outcome, 0) + 1
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items())
    lines.append(
        f"verdict: {report.verdict.value.upper()} (exit {report.verdict.exit_code})"
        + (f" - {summary}" if summary else "")
    )
    return "\n".join(lines) + "\n"
