"""SARIF 2.1.0 for code scanning: one result per package that did not verify.

The unit of a result is the package (``ReleaseReport.label``, ``name==version``), not the
finding: a lockfile with one bad pin gets one alert at that pin's line, however many files and
checks of the package disagreed. The result takes the package's worst outcome (FAILED is
``error``, UNVERIFIABLE is ``warning``), the rule of the first finding with that outcome, and a
message that lists every non-verified finding with its expected and actual values.

VERIFIED packages produce no result, and neither do SKIPPED ones: SKIPPED only exists where a
policy the user set tolerates absent evidence, so an alert for it would flag a decision already
taken (and keep reopening it on every run). Their counts are in the result-free run
``properties`` instead, and the text, JSON and summary reports show them.

Locations come from ``Finding.location`` (``path:line`` in the lockfile). A relative path becomes
a ``%SRCROOT%``-relative URI with forward slashes; an absolute one a ``file:`` URI. A package
without any location (a pin given on the command line) gets a logical location naming it and,
because GitHub code scanning refuses results without a physical location, a pseudo-path: its
pin (``NAME==VERSION``) under ``%SRCROOT%``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from verifier import __version__
from verifier.models import Check, Finding, Outcome, Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "verify-release"
INFORMATION_URI = "https://pypi.org/project/verify-release/"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "verifyRelease/v1"
"""``partialFingerprints`` key: bump the suffix if the fingerprinted fields ever change."""

SEVERITY: Mapping[Outcome, int] = {
    Outcome.VERIFIED: 0,
    Outcome.SKIPPED: 1,
    Outcome.UNVERIFIABLE: 2,
    Outcome.FAILED: 3,
}
"""FAILED > UNVERIFIABLE > SKIPPED > VERIFIED, as ``Outcome`` documents."""

_LEVELS: Mapping[Outcome, str] = {Outcome.FAILED: "error", Outcome.UNVERIFIABLE: "warning"}


@dataclass(frozen=True)
class _Rule:
    name: str
    short: str
    full: str
    help: str


_RULES: Mapping[Check, _Rule] = {
    Check.INDEX_HASH: _Rule(
        "IndexHash",
        "The file's sha256 matches the index's published digest",
        "Every file of the release is downloaded and its sha256 recomputed; it must equal the "
        "sha256 the package index publishes, because that digest is what installers and "
        "lockfiles trust.",
        "A mismatch means the bytes served are not the bytes the index vouches for: do not "
        "install this release. If the index could not be reached, re-run when it answers.",
    ),
    Check.ATTESTATION: _Rule(
        "Attestation",
        "The file's PEP 740 attestation verifies against the expected publisher",
        "The provenance from PyPI's Integrity API must verify with Sigstore against the trust "
        "root, name exactly this file and sha256, and carry a certificate of the expected "
        "Trusted Publisher.",
        "A failure means the file was not signed by the expected build: do not install it and "
        "check the project's release pipeline. A missing attestation can be tolerated with "
        "--allow-missing attestations when the project does not publish them.",
    ),
    Check.BUNDLE: _Rule(
        "Bundle",
        "The GitHub Release's Sigstore bundle verifies for the file",
        "The Sigstore bundle attached to the GitHub Release must verify for the index's sha256 "
        "with the release workflow at the tag as its certificate identity.",
        "A failure means the bundle does not vouch for this file or this workflow; investigate "
        "the release. Missing bundles can be tolerated with --allow-missing bundles.",
    ),
    Check.RELEASE_ASSET: _Rule(
        "ReleaseAsset",
        "The distribution attached to the GitHub Release matches the index",
        "When the GitHub Release attaches the distribution itself, its sha256 must equal the "
        "index's.",
        "A mismatch means the index and the GitHub Release serve different bytes under one "
        "name: do not install until the project explains which one it built.",
    ),
    Check.TAG: _Rule(
        "SignedTag",
        "The release's git tag carries a trusted signature",
        "The release's git tag must be signed (OpenPGP or SSH) by a key the user trusts, or "
        "one the repository owner publishes on the forge.",
        "Name the keys you trust with --allowed-signers or --gpg-keyring; a tag that is "
        "unsigned or signed by an unknown key does not prove who released the source.",
    ),
    Check.CROSS_LINK: _Rule(
        "CrossLink",
        "All evidence describes one build",
        "The index digest, attestation and bundle digests, certificate repository, commit, ref "
        "and workflow must agree with each other and with the signed tag.",
        "A contradiction means two pieces of evidence describe different builds: compare the "
        "expected and actual values in the message before installing.",
    ),
    Check.LOCKFILE: _Rule(
        "LockfilePin",
        "The lockfile's pinned hashes match the index",
        "Every sha256 a lockfile pins for a package must be one the index publishes for that "
        "version, and the pin must be checkable against an index.",
        "A mismatch means the lockfile pins bytes the index does not serve: regenerate the "
        "lockfile from a trusted index and review the diff.",
    ),
    Check.VULNERABILITY: _Rule(
        "KnownVulnerability",
        "The pinned version has no known vulnerability",
        "The pinned version is looked up in the vulnerability database; a known advisory "
        "against it is reported.",
        "Upgrade to a version the advisory lists as fixed, or record why the advisory does "
        "not apply.",
    ),
    Check.PUBLISHER_PIN: _Rule(
        "PublisherPin",
        "The release was published by the publisher the lockfile pins",
        "When a lockfile records the expected publisher (PEP 751 attestation-identities), the "
        "verified attestations must name that publisher.",
        "A different publisher means the project's publishing identity changed since the "
        "lockfile was written: confirm the change with the project before updating the pin.",
    ),
    Check.HISTORY: _Rule(
        "History",
        "The release keeps the attestations and publisher of the release uploaded before it",
        "The project's earlier releases on the index are the baseline: a release that lost the "
        "attestations the previous one carried, a file added without attestations next to "
        "attested ones, or a new Trusted Publisher nobody pinned is a downgrade.",
        "Do not install a downgraded release; ask the maintainers how it was uploaded. If the "
        "publisher changed on purpose, pin the new one (--repository, [publishers.NAME]).",
    ),
}


def worst_outcome(findings: Iterable[Finding]) -> Outcome | None:
    """The most severe outcome among ``findings``, or None when there are none."""
    outcomes = [f.outcome for f in findings]
    return max(outcomes, key=SEVERITY.__getitem__) if outcomes else None


def packages(report: Report) -> dict[str, list[Finding]]:
    """Findings grouped by package label, in report order (repeated labels are merged)."""
    grouped: dict[str, list[Finding]] = {}
    for release in report.releases:
        grouped.setdefault(release.label, []).extend(release.findings)
    return grouped


def parse_location(location: str) -> tuple[str, int | None]:
    """Split ``path:line`` (or a bare ``path``) into the path and a positive line number."""
    path, sep, tail = location.rpartition(":")
    if sep and path and tail.isdigit():
        line = int(tail)
        return path, line if line >= 1 else None
    return location, None


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")


def artifact_location(path: str) -> dict[str, str]:
    """A SARIF ``artifactLocation`` for a lockfile path: relative to ``%SRCROOT%`` when it can."""
    posix = path.replace("\\", "/")
    if posix.startswith("/") or _WINDOWS_DRIVE.match(posix):
        absolute = posix if posix.startswith("/") else "/" + posix
        return {"uri": "file://" + quote(absolute, safe="/:", errors="surrogateescape")}
    while posix.startswith("./"):
        posix = posix[2:]
    # A path given as non-UTF-8 bytes (decoded with surrogateescape) is quoted byte for byte.
    return {"uri": quote(posix, safe="/", errors="surrogateescape"), "uriBaseId": SRCROOT}


def _location(label: str, findings: list[Finding], worst: Outcome) -> dict[str, Any]:
    ranked = sorted(findings, key=lambda f: f.outcome is not worst)
    where = next((f.location for f in ranked if f.location), None)
    if where is None:
        # A release named on the command line has no file to point at. GitHub code scanning
        # refuses a whole upload if any result lacks a physical location, so the package is
        # given a pseudo-path (its pin) as well as its logical location.
        name = label.split("==", 1)[0]
        return {
            "physicalLocation": {"artifactLocation": {"uri": label, "uriBaseId": "%SRCROOT%"}},
            "logicalLocations": [{"name": name, "fullyQualifiedName": label, "kind": "package"}],
        }
    path, line = parse_location(where)
    physical: dict[str, Any] = {"artifactLocation": artifact_location(path)}
    if line is not None:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _describe(finding: Finding) -> str:
    text = f"- {finding.outcome.value.upper()} {finding.check.value} {finding.subject}: "
    text += finding.message
    if finding.expected is not None:
        text += f"; expected: {finding.expected}"
    if finding.actual is not None:
        text += f"; got: {finding.actual}"
    if finding.policy:
        text += f"; policy: {finding.policy}"
        if finding.policy_source:
            text += f" [{finding.policy_source}]"
    return text


def _message(label: str, findings: list[Finding], worst: Outcome) -> str:
    problems = [f for f in findings if f.outcome is not Outcome.VERIFIED]
    problems.sort(key=lambda f: -SEVERITY[f.outcome])
    verified = len(findings) - len(problems)
    head = (
        f"{label}: {worst.value.upper()}, {len(problems)} of {len(findings)} findings "
        f"not verified ({verified} verified)."
    )
    return "\n".join([head, *(_describe(f) for f in problems)])


def fingerprint(label: str, check: Check) -> str:
    """A stable identity for an alert: the same package and check keep the same alert."""
    return hashlib.sha256(f"{label}\x00{check.value}".encode()).hexdigest()


def _outcome_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = dict.fromkeys((o.value for o in Outcome), 0)
    for finding in findings:
        counts[finding.outcome.value] += 1
    return counts


def _result(
    label: str, findings: list[Finding], worst: Outcome, rule_index: Mapping[Check, int]
) -> dict[str, Any]:
    first = next(f for f in findings if f.outcome is worst)
    checks: dict[Check, Outcome] = {}
    for finding in findings:
        seen = checks.get(finding.check)
        if seen is None or SEVERITY[finding.outcome] > SEVERITY[seen]:
            checks[finding.check] = finding.outcome
    properties: dict[str, Any] = {
        "package": label,
        "verdict": worst.value,
        "outcomes": _outcome_counts(findings),
        "checks": {check.value: outcome.value for check, outcome in checks.items()},
    }
    baseline = _baseline(findings)
    if baseline:
        properties["baseline"] = baseline
    return {
        "ruleId": _rule_id(first.check),
        "ruleIndex": rule_index[first.check],
        "level": _LEVELS[worst],
        "kind": "fail",
        "message": {"text": _message(label, findings, worst)},
        "locations": [_location(label, findings, worst)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(label, first.check)},
        "properties": properties,
    }


def _baseline(findings: list[Finding]) -> dict[str, str | None]:
    """The earlier release a history finding compared with (version, upload time, publisher)."""
    for finding in findings:
        if finding.check is Check.HISTORY:
            found = {
                key.split(".", 1)[1]: value
                for key, value in finding.details.items()
                if key.startswith("baseline.")
            }
            if found:
                return found
    return {}


def _rule_id(check: Check) -> str:
    return f"{TOOL_NAME}/{check.value}"


def _rule(check: Check) -> dict[str, Any]:
    rule = _RULES[check]
    return {
        "id": _rule_id(check),
        "name": rule.name,
        "shortDescription": {"text": rule.short},
        "fullDescription": {"text": rule.full},
        "help": {"text": rule.help},
        "helpUri": INFORMATION_URI,
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "supply-chain"]},
    }


def to_sarif(report: Report) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (plain JSON-ready data)."""
    present = {f.check for f in report.findings}
    kinds = [check for check in Check if check in present]
    rule_index = {check: number for number, check in enumerate(kinds)}
    results = []
    for label, findings in packages(report).items():
        worst = worst_outcome(findings)
        if worst is not None and worst in _LEVELS:
            results.append(_result(label, findings, worst, rule_index))
    root = report.trust_root
    warnings = list(root.warnings if root else ()) + list(report.warnings)
    invocation: dict[str, Any] = {
        "executionSuccessful": True,
        "exitCode": report.verdict.exit_code,
    }
    if warnings:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": warning}} for warning in warnings
        ]
    run_properties: dict[str, Any] = {
        "verdict": report.verdict.value,
        "exitCode": report.verdict.exit_code,
        "outcomes": _outcome_counts(report.findings),
        "packages": len(packages(report)),
    }
    if root is not None:
        run_properties["trustRoot"] = root.description
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(check) for check in kinds],
                    }
                },
                "originalUriBaseIds": {
                    SRCROOT: {
                        "description": {
                            "text": "The directory verify-release ran in; relative lockfile "
                            "paths are relative to it."
                        }
                    }
                },
                "invocations": [invocation],
                "results": results,
                "properties": run_properties,
            }
        ],
    }


def render_sarif(report: Report) -> str:
    """Indented SARIF 2.1.0 JSON with a trailing newline."""
    return json.dumps(to_sarif(report), indent=2, ensure_ascii=False) + "\n"
