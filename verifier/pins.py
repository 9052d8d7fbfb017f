"""Trust on first use: record each package's observed Trusted Publisher in the policy file.

``verify-release pin --lockfile uv.lock`` verifies every pinned package against PyPI's own
publisher record, then writes what the certificates showed (repository, workflow) and PyPI's
environment into a managed block of the policy file. Later runs require exactly that publisher:
another repository, workflow or environment FAILS, and so does a package that stops being
attested. Re-running ``pin`` is how a change is accepted deliberately; the command prints every
change it records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from verifier import atomic
from verifier.errors import PolicyError
from verifier.models import Check, Outcome, ReleaseReport
from verifier.policy import PIN_BEGIN, PIN_END, PolicyFile, parse_repository_url


@dataclass(frozen=True)
class Observed:
    """A publisher seen on verified attestations."""

    repository: str
    workflow: str | None
    environment: str | None


def observed_publishers(reports: Sequence[ReleaseReport]) -> dict[NormalizedName, Observed]:
    """Publishers of every package whose attestations all verified (GitHub/GitLab only)."""
    found: dict[NormalizedName, Observed] = {}
    for report in reports:
        attestations = [f for f in report.findings if f.check is Check.ATTESTATION]
        if not attestations or any(f.outcome is not Outcome.VERIFIED for f in attestations):
            continue
        first = attestations[0]
        repository = first.certificate.repository if first.certificate else None
        if not repository:
            continue
        if not _pinnable(repository):
            continue  # Google/CircleCI publishers name no GitHub/GitLab repository
        record = first.publisher
        workflow = (record.get("workflow") or record.get("workflow_filepath")) if record else None
        environment = record.get("environment") if record else None
        name = canonicalize_name(report.label.split("==", 1)[0])
        found[name] = Observed(repository, workflow, environment)
    return found


def _pinnable(repository: str) -> bool:
    try:
        parse_repository_url(repository, source="certificate")
    except PolicyError:
        return False
    return True


def _table(prefix: str, name: str, observed: Observed) -> str:
    lines = [
        f"[{prefix}publishers.{json.dumps(name)}]",
        f"repository = {json.dumps(observed.repository)}",
    ]
    if observed.workflow:
        lines.append(f"workflow = {json.dumps(observed.workflow)}")
    if observed.environment:
        lines.append(f"environment = {json.dumps(observed.environment)}")
    lines.append("pinned = true")
    return "\n".join(lines)


def write_pins(
    path: Path, existing: PolicyFile | None, observed: Mapping[NormalizedName, Observed]
) -> list[str]:
    """Rewrite the managed pin block of ``path``; return one line per change, for people."""
    text = path.read_text("utf-8") if path.exists() else ""
    hand_written = set(existing.publishers) - set(existing.pinned) if existing else set()
    old = {
        n: p
        for n, p in (existing.publishers.items() if existing else ())
        if existing is not None and n in existing.pinned
    }
    changes: list[str] = []
    keep: dict[NormalizedName, Observed] = {}
    for name in sorted(observed):
        if name in hand_written:
            changes.append(f"{name}: left alone (its publisher is written by hand in {path.name})")
            continue
        now = observed[name]
        keep[name] = now
        before = old.get(name)
        if before is None:
            changes.append(f"{name}: pinned to {_describe(now)}")
        elif (before.url, before.workflow, before.environment) != (
            now.repository,
            now.workflow,
            now.environment,
        ):
            changes.append(
                f"{name}: CHANGED from {before.url} {before.workflow or ''} "
                f"{before.environment or ''}".rstrip()
                + f" to {_describe(now)}"
            )
    for name in sorted(set(old) - set(observed)):
        changes.append(f"{name}: pin removed (no verified attestations this time)")
    prefix = "tool.verify-release." if path.name == "pyproject.toml" else ""
    block = "\n\n".join(_table(prefix, name, keep[name]) for name in sorted(keep))
    managed = f"{PIN_BEGIN}\n{block}\n{PIN_END}\n" if block else ""
    if PIN_BEGIN in text and PIN_END in text:
        head, rest = text.split(PIN_BEGIN, 1)
        tail = rest.split(PIN_END, 1)[1].lstrip("\n")
        text = head + managed + tail
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + managed
    atomic.write_text(path, text)
    return changes


def _describe(observed: Observed) -> str:
    parts = [observed.repository]
    if observed.workflow:
        parts.append(f"workflow {observed.workflow}")
    if observed.environment:
        parts.append(f"environment {observed.environment}")
    return " ".join(parts)
