"""Trust on first use: record each package's observed Trusted Publisher in the policy file.

``verify-release pin --lockfile uv.lock`` verifies every pinned package against PyPI's own
publisher record, then writes what the certificates showed (repository, workflow) and PyPI's
environment into a managed block of the policy file. Later runs require exactly that publisher:
another repository, workflow or environment FAILS, and so does a package that stops being
attested. Re-running ``pin`` is how a change is accepted deliberately; the command prints every
change as a diff-like list (``+ name: publisher``, ``- name``, ``~ name: old -> new``) before it
writes, and ``--dry-run`` prints them only.

A pin is never dropped by observation: a pinned package that this run found without verified
attestations keeps its pin and ``pin`` exits 1 naming it (the run that should raise the alarm must
not erase the evidence of it); only ``--unpin NAME`` removes one. The block is written with a TOML
writer (``tomli_w``), so every value reads back as it was observed, whatever its characters, and
everything outside the block stays byte for byte as the user wrote it. The file is read, changed
and written under a lock and replaced atomically (``verifier.atomic``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from packaging.utils import NormalizedName, canonicalize_name

from verifier import atomic
from verifier.errors import PolicyError, UsageError
from verifier.models import Check, Outcome, PublisherRecord, ReleaseReport
from verifier.policy import (
    PIN_BEGIN,
    PIN_END,
    PolicyFile,
    _read_policy_text,
    circleci_publisher,
    google_publisher,
    load_policy_file,
    parse_repository_url,
)


@dataclass(frozen=True)
class Observed:
    """A publisher seen on verified attestations.

    ``kind`` None: a GitHub/GitLab publisher, ``repository`` its URL. ``Google``:
    ``repository`` is the service account's email; ``CircleCI``: ``PROJECT/PIPELINE`` ids.
    """

    repository: str
    workflow: str | None
    environment: str | None
    kind: str | None = None


def observed_publishers(reports: Sequence[ReleaseReport]) -> dict[NormalizedName, Observed]:
    """Publishers of every package whose attestations all verified, of every publisher kind.

    GitHub/GitLab: the repository from the verified certificate, the workflow and environment
    from PyPI's record. Google and CircleCI name no repository: their identity (the service
    account; the project and pipeline definition) is PyPI's record, which the attestation was
    just verified against (pypi-attestations checks the certificate for exactly those
    values), so it is what the certificate says too.
    """
    found: dict[NormalizedName, Observed] = {}
    for report in reports:
        attestations = [f for f in report.findings if f.check is Check.ATTESTATION]
        if not attestations or any(f.outcome is not Outcome.VERIFIED for f in attestations):
            continue
        first = attestations[0]
        record = first.publisher
        name = canonicalize_name(report.label.split("==", 1)[0])
        repository = first.certificate.repository if first.certificate else None
        if repository and _pinnable(repository):
            workflow = (
                (record.get("workflow") or record.get("workflow_filepath")) if record else None
            )
            environment = record.get("environment") if record else None
            found[name] = Observed(repository, workflow, environment)
            continue
        other = _other_kind(record)
        if other is not None:
            found[name] = other
    return found


def _other_kind(record: PublisherRecord | None) -> Observed | None:
    """A Google or CircleCI publisher from its (verified) record; None if it is malformed."""
    if record is None:
        return None
    try:
        if record.kind == "Google":
            email = google_publisher(record.get("email") or "", source="pin", where="email")
            return Observed(email.repository, None, None, "Google")
        if record.kind == "CircleCI":
            ids = circleci_publisher(
                record.get("project_id") or "",
                record.get("pipeline_definition_id") or "",
                source="pin",
                where=("project_id", "pipeline_definition_id"),
            )
            return Observed(ids.repository, None, None, "CircleCI")
    except PolicyError:
        return None
    return None


def _pinnable(repository: str) -> bool:
    try:
        parse_repository_url(repository, source="certificate")
    except PolicyError:
        return False
    return True


def checked_names(reports: Sequence[ReleaseReport]) -> frozenset[NormalizedName]:
    """Every package this run verified, attested or not: a pin of one of them is up for review."""
    return frozenset(canonicalize_name(r.label.split("==", 1)[0]) for r in reports)


@dataclass(frozen=True)
class Pin:
    """One entry of the managed block."""

    observed: Observed
    pinned: bool = True

    def table(self) -> dict[str, str | bool]:
        """The entry as a TOML table (absent values are left out, never written empty)."""
        if self.observed.kind == "Google":
            return {"google-service-account": self.observed.repository, "pinned": self.pinned}
        if self.observed.kind == "CircleCI":
            project, _, pipeline = self.observed.repository.partition("/")
            return {
                "circleci-project": project,
                "circleci-pipeline-definition": pipeline,
                "pinned": self.pinned,
            }
        entry: dict[str, str | bool] = {"repository": self.observed.repository}
        if self.observed.workflow:
            entry["workflow"] = self.observed.workflow
        if self.observed.environment:
            entry["environment"] = self.observed.environment
        entry["pinned"] = self.pinned
        return entry


@dataclass(frozen=True)
class PinPlan:
    """What ``pin`` changes in a policy file, before it writes anything."""

    path: Path
    lines: tuple[str, ...]
    """The diff-like list for people, one line per package."""
    changes: int
    """How many pins are added, changed or removed."""
    lost: tuple[NormalizedName, ...]
    """Pinned packages verified this run without verified attestations: their pins are kept."""
    before: str
    after: str
    refused: tuple[NormalizedName, ...] = ()
    """Packages whose observed publisher cannot be written (not valid Unicode): not pinned."""


def render_block(entries: Mapping[NormalizedName, Pin], *, pyproject: bool) -> str:
    """The managed block (markers included), or "" when nothing is pinned."""
    if not entries:
        return ""
    document: dict[str, object] = {
        "publishers": {name: entries[name].table() for name in sorted(entries)}
    }
    if pyproject:
        document = {"tool": {"verify-release": document}}
    return f"{PIN_BEGIN}\n{tomli_w.dumps(document).rstrip(chr(10))}\n{PIN_END}\n"


def replace_block(text: str, managed: str) -> str:
    """``text`` with its managed block replaced by ``managed`` (appended when it has none).

    Everything before the begin marker and after the end marker's line is kept byte for byte;
    a new block is separated from the file's last line by one blank line.
    """
    begin = text.find(PIN_BEGIN)
    end = text.find(PIN_END, begin) if begin != -1 else -1
    if end != -1:
        stop = end + len(PIN_END)
        for newline in ("\r\n", "\n"):
            if text.startswith(newline, stop):
                stop += len(newline)
                break
        return text[:begin] + managed + text[stop:]
    if not managed or not text:
        return text + managed
    return text + ("\n" if text.endswith("\n") else "\n\n") + managed


def managed_names(text: str, existing: PolicyFile | None, *, pyproject: bool) -> set[str]:
    """The publisher entries written inside the managed block (pinned or edited there)."""
    begin = text.find(PIN_BEGIN)
    end = text.find(PIN_END, begin) if begin != -1 else -1
    if existing is None or end == -1:
        return set(existing.pinned) if existing else set()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        fragment = tomllib.loads(text[begin:end])
    except tomllib.TOMLDecodeError:
        return set(existing.pinned)
    table: object = fragment
    for key in ("tool", "verify-release") if pyproject else ():
        table = table.get(key, {}) if isinstance(table, dict) else {}
    if not isinstance(table, dict) or set(table) - {"publishers"}:
        raise PolicyError(
            f"{existing.path}: the block managed by verify-release pin holds more than "
            "publisher pins",
            hint="move everything else outside the block's marker lines, then run pin again",
        )
    publishers = table.get("publishers", {})
    return (
        {str(canonicalize_name(n)) for n in publishers} if isinstance(publishers, dict) else set()
    )


def plan_pins(
    path: Path,
    text: str,
    existing: PolicyFile | None,
    observed: Mapping[NormalizedName, Observed],
    *,
    checked: Collection[NormalizedName] = (),
    unpin: Collection[NormalizedName] = (),
) -> PinPlan:
    """The new text of ``path`` and the list of changes, without writing anything.

    ``checked``: the packages this run verified; a pin of one of them that ``observed`` lacks
    has lost its verified attestations and is kept. ``unpin``: pins to remove; each must exist.
    """
    pyproject = path.name == "pyproject.toml"
    managed = managed_names(text, existing, pyproject=pyproject)
    publishers = existing.publishers if existing else {}
    pinned = existing.pinned if existing else frozenset()
    old: dict[NormalizedName, Pin] = {
        name: Pin(
            Observed(p.url, p.workflow, p.environment)
            if p.forge
            else Observed(p.repository, None, None, p.kind),
            name in pinned,
        )
        for name, p in publishers.items()
        if name in managed
    }
    for name in unpin:
        if name not in old:
            where = "written by hand" if name in publishers else "not pinned"
            raise UsageError(
                f"--unpin {name}: the package is {where} in {path}",
                hint="name a package of the block `verify-release pin` manages; edit "
                "hand-written entries by hand",
            )
    keep = dict(old)
    lines: list[str] = []
    lost: list[NormalizedName] = []
    refused: list[NormalizedName] = []
    changes = 0
    for name in sorted(set(observed) | set(old) | set(unpin)):
        if name in unpin:
            del keep[name]
            lines.append(f"- {name}")
            changes += 1
            continue
        before = old.get(name)
        now = observed.get(name)
        if now is None:
            if before is not None and before.pinned and name in checked:
                lost.append(name)
                lines.append(
                    f"! {name}: no verified attestations this run; its pin is kept (remove it "
                    f"with `verify-release pin --unpin {name}`)"
                )
            continue
        if name in publishers and name not in managed:
            lines.append(f"= {name}: left alone (its publisher is written by hand in {path.name})")
            continue
        if not _unicode(now):
            refused.append(name)
            lines.append(
                f"! {name}: PyPI's publisher record holds text that is not valid Unicode (a lone "
                "surrogate), which no policy file can hold; not pinned"
                + ("; its pin is kept" if before is not None else "")
            )
            continue
        keep[name] = Pin(now)
        if before is None:
            lines.append(f"+ {name}: {_describe(now)}")
            changes += 1
        elif before != Pin(now):
            lines.append(f"~ {name}: {_describe(before.observed)} -> {_describe(now)}")
            changes += 1
    after = replace_block(text, render_block(keep, pyproject=pyproject))
    return PinPlan(path, tuple(lines), changes, tuple(lost), text, after, tuple(refused))


def apply_pins(
    path: Path,
    observed: Mapping[NormalizedName, Observed],
    *,
    checked: Collection[NormalizedName] = (),
    unpin: Collection[NormalizedName] = (),
    dry_run: bool = False,
) -> PinPlan:
    """Plan against the file as it is now and, unless ``dry_run``, write the result whole.

    The read, the plan and the write happen under the file's lock, so a second ``pin`` run
    waits and then plans against the first one's result instead of overwriting it.
    """
    with atomic.locked(path) if not dry_run else contextlib.nullcontext():
        exists = os.path.lexists(path)
        existing = load_policy_file(path) if exists else None
        text = _read_policy_text(path) if exists else ""
        plan = plan_pins(path, text, existing, observed, checked=checked, unpin=unpin)
        if not dry_run and plan.after != plan.before:
            atomic.write_text(path, plan.after)
    return plan


def _unicode(observed: Observed) -> bool:
    """Whether every value can be written as UTF-8 (JSON can carry lone surrogates; TOML not)."""
    values = (observed.repository, observed.workflow or "", observed.environment or "")
    try:
        for value in values:
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _describe(observed: Observed) -> str:
    if observed.kind == "Google":
        return f"Google service account {observed.repository}"
    if observed.kind == "CircleCI":
        project, _, pipeline = observed.repository.partition("/")
        return f"CircleCI project {project} pipeline definition {pipeline}"
    parts = [observed.repository]
    if observed.workflow:
        parts.append(f"workflow {observed.workflow}")
    if observed.environment:
        parts.append(f"environment {observed.environment}")
    return " ".join(parts)
