"""The machine report: a versioned JSON document (schema in ``schema.json`` beside this file).

``schema_version`` changes only when a consumer would have to change; new optional keys do not
change it. Keys are stable and snake_case; outcomes are lower-case strings.
"""

from __future__ import annotations

import json
from typing import Any

from verifier import __version__
from verifier.models import Finding, ReleaseReport, Report, RequirementsOutcome

SCHEMA_VERSION = 1


def flat_evidence(finding: Finding) -> dict[str, str | None]:
    """Typed evidence flattened into the report's ``evidence`` keys (the one flattening)."""
    out: dict[str, str | None] = {}
    if finding.certificate is not None:
        out.update({f"certificate.{k}": v for k, v in finding.certificate.as_dict().items()})
    if finding.publisher is not None:
        out["publisher.kind"] = finding.publisher.kind
        out.update({f"publisher.{k}": v for k, v in finding.publisher.fields.items()})
    if finding.tag is not None:
        tag = finding.tag
        out.update(
            {
                "tag": tag.tag,
                "commit": tag.commit,
                "signer": tag.signer,
                "signature_format": tag.signature_format,
                "tagger": tag.tagger,
                "trust": tag.trust,
            }
        )
    if len(finding.certificates) > 1:
        out["signers"] = ", ".join(
            dict.fromkeys(c.build_config_uri or c.identity or "?" for c in finding.certificates)
        )
    out.update(finding.details)
    return out


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "check": finding.check.value,
        "outcome": finding.outcome.value,
        "subject": finding.subject,
        "message": finding.message,
        "expected": finding.expected,
        "actual": finding.actual,
        "policy": finding.policy,
        "policy_source": finding.policy_source,
        "hint": finding.hint,
        "evidence": flat_evidence(finding),
        "location": finding.location,
    }


def _release(release: ReleaseReport) -> dict[str, Any]:
    return {
        "subject": release.label,
        "identity_source": release.identity_source,
        "expected_publisher": dict(release.expected_identity) or None,
        "files": [
            {
                "filename": f.filename,
                "url": f.url,
                "sha256": f.sha256,
                "size": f.size,
                "yanked": f.yanked,
            }
            for f in release.files
        ],
        "findings": [_finding(f) for f in release.findings],
    }


def to_document(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    root = report.trust_root
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "verify-release", "version": __version__},
        "verdict": report.verdict.value,
        "exit_code": report.verdict.exit_code,
        "trust_root": None
        if root is None
        else {
            "source": root.source,
            "description": root.description,
            "path": root.path,
            "expires": root.expires,
            "expired": root.expired,
        },
        "warnings": list(root.warnings if root else ()) + list(report.warnings),
        "releases": [_release(r) for r in report.releases],
        "requirements": None if report.requirements is None else _requirements(report.requirements),
    }


def _requirements(outcome: RequirementsOutcome) -> dict[str, Any]:
    """``--write-requirements``: whether the file was written, and why not."""
    return {
        "path": outcome.path,
        "written": outcome.written,
        "message": outcome.message,
        "packages": outcome.packages,
        "hashes": outcome.hashes,
    }


_COMPACT_DEPTH = 4
"""Values this deep (each file and each finding of a release) are written on one line."""


def render_json(report: Report) -> str:
    """Indented JSON with a trailing newline; each file and finding on a line of its own.

    ``json.dumps`` with ``indent`` runs CPython's pure-Python encoder, a third of a second for
    a 200-package lockfile; without it, the C one. So the outer levels are indented here and
    every value from ``_COMPACT_DEPTH`` down is encoded by the C encoder on one line: the same
    data, still one key per line where a reader looks for the verdict and the releases.
    """
    parts: list[str] = []
    _indented(to_document(report), 0, parts)
    parts.append("\n")
    return "".join(parts)


_ENCODE = json.JSONEncoder(separators=(", ", ": ")).encode


def _indented(value: Any, depth: int, parts: list[str]) -> None:
    """Append ``value`` as JSON to ``parts``, indented by two spaces per level."""
    if depth >= _COMPACT_DEPTH or not isinstance(value, (dict, list)) or not value:
        parts.append(_ENCODE(value))
        return
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, dict):
        parts.append("{")
        for number, (key, item) in enumerate(value.items()):
            parts.append(("," if number else "") + inner + _ENCODE(key) + ": ")
            _indented(item, depth + 1, parts)
        parts.append("\n" + "  " * depth + "}")
        return
    parts.append("[")
    for number, item in enumerate(value):
        parts.append(("," if number else "") + inner)
        _indented(item, depth + 1, parts)
    parts.append("\n" + "  " * depth + "]")
