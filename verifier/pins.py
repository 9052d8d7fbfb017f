"""Trust on first use: record each package's observed Trusted Publisher in the policy file.

``verify-release pin --lockfile uv.lock`` verifies every pinned package against PyPI's own
publisher record, then writes what the certificates showed (repository, workflow) and PyPI's
environment into a managed block of the policy file. Later runs require exactly that publisher:
another repository, workflow or environment FAILS, and so does a package that stops being
attested. A new pin is written by ``pin`` as observed; a CHANGED publisher is not (accepting it
silently would erase the evidence the normal run fails on): its old pin is kept and ``pin`` exits
1 naming it, until ``--accept NAME`` accepts that change deliberately. The command prints every
change as a diff-like list (``+ name: publisher``, ``- name``, ``~ name: old -> new``) before it
writes, and ``--dry-run`` prints them only.

A pin is never dropped by observation: a pinned package that this run found without verified
attestations keeps its pin and ``pin`` exits 1 naming it (the run that should raise the alarm must
not erase the evidence of it); only ``--unpin NAME`` removes one. The block is written with a TOML
writer (``tomli_w``), so every value reads back as it was observed, whatever its characters, and
everything outside the block stays byte for byte as the user wrote it. The file is read, changed
and written under a lock and replaced atomically (``verifier.atomic``); the new text is loaded
with the same rules as any policy file before it is written, so ``pin`` never leaves a file the
next run cannot read.
"""

from __future__ import annotations

import contextlib
import os
import re
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
    ExpectedPublisher,
    PolicyFile,
    _read_policy_text,
    circleci_publisher,
    google_publisher,
    load_policy_file,
    parse_repository_url,
)

_BEGIN_LINE = re.compile(rf"^{re.escape(PIN_BEGIN)}\r?$", re.MULTILINE)
_END_LINE = re.compile(rf"^{re.escape(PIN_END)}\r?$", re.MULTILINE)
"""A marker counts only as a whole line: PyPI's unsigned publisher record may carry the marker
text inside a value, which the TOML writer keeps inside a quoted string on its entry's line."""


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
    changed: tuple[NormalizedName, ...] = ()
    """Pinned packages observed with another publisher and not ``--accept``ed: pins kept."""
    pins: Mapping[NormalizedName, Pin] | None = None
    """Every entry of the new managed block: what the new text must read back as."""


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
    span = _block_span(text)
    if span is not None:
        begin, end = span
        stop = _END_LINE.match(text, end)
        assert stop is not None  # noqa: S101 - _block_span found it there
        after = stop.end()
        if text.startswith("\n", after):
            after += 1
        return text[:begin] + managed + text[after:]
    if not managed or not text:
        return text + managed
    return text + ("\n" if text.endswith("\n") else "\n\n") + managed


def managed_names(text: str, existing: PolicyFile | None, *, pyproject: bool) -> set[str]:
    """The publisher entries written inside the managed block (pinned or edited there)."""
    span = _block_span(text)
    if existing is None or span is None:
        return set(existing.pinned) if existing else set()
    begin, end = span
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


def _block_span(text: str, path: Path | None = None) -> tuple[int, int] | None:
    """Where the managed block starts and where its end marker line starts, if it has one.

    Only whole marker lines count. A block that lost one of its markers (a merge, a hand edit)
    or has several is refused: appending a second block beside it would redeclare its tables.
    """
    begins = list(_BEGIN_LINE.finditer(text))
    ends = list(_END_LINE.finditer(text))
    if not begins and not ends:
        return None
    if len(begins) == 1 and len(ends) == 1 and begins[0].start() < ends[0].start():
        return begins[0].start(), ends[0].start()
    raise PolicyError(
        f"{path or 'the policy file'} was not changed: the block managed by verify-release pin "
        "has lost a marker line or has several",
        hint=f"keep exactly one line `{PIN_BEGIN}` before the pins and one line `{PIN_END}` "
        "after them, then run pin again",
    )


def _as_observed(publisher: ExpectedPublisher) -> Observed:
    """An expected publisher as ``pin`` would observe it, so old and new pins compare."""
    if publisher.forge:
        return Observed(publisher.url, publisher.workflow, publisher.environment)
    return Observed(publisher.repository, None, None, publisher.kind)


def plan_pins(
    path: Path,
    text: str,
    existing: PolicyFile | None,
    observed: Mapping[NormalizedName, Observed],
    *,
    checked: Collection[NormalizedName] = (),
    unpin: Collection[NormalizedName] = (),
    accept: Collection[NormalizedName] = (),
) -> PinPlan:
    """The new text of ``path`` and the list of changes, without writing anything.

    ``checked``: the packages this run verified; a pin of one of them that ``observed`` lacks
    has lost its verified attestations and is kept. ``unpin``: pins to remove; each must exist.
    ``accept``: packages whose changed publisher replaces their pin; any other change keeps
    the old pin and is reported in ``changed``.
    """
    pyproject = path.name == "pyproject.toml"
    _block_span(text, path)
    managed = managed_names(text, existing, pyproject=pyproject)
    publishers = existing.publishers if existing else {}
    pinned = existing.pinned if existing else frozenset()
    old: dict[NormalizedName, Pin] = {
        name: Pin(_as_observed(p), name in pinned)
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
    changed: list[NormalizedName] = []
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
        if before is None:
            keep[name] = Pin(now)
            lines.append(f"+ {name}: {_describe(now)}")
            changes += 1
        elif before != Pin(now) and name not in accept:
            changed.append(name)
            lines.append(
                f"! {name}: publisher changed: {_describe(before.observed)} -> {_describe(now)}; "
                f"its pin is kept (accept the change with `verify-release pin --accept {name}`)"
            )
        elif before != Pin(now):
            keep[name] = Pin(now)
            lines.append(f"~ {name}: {_describe(before.observed)} -> {_describe(now)}")
            changes += 1
    after = replace_block(text, render_block(keep, pyproject=pyproject))
    return PinPlan(
        path,
        tuple(lines),
        changes,
        tuple(lost),
        text,
        after,
        tuple(refused),
        tuple(changed),
        keep,
    )


def apply_pins(
    path: Path,
    observed: Mapping[NormalizedName, Observed],
    *,
    checked: Collection[NormalizedName] = (),
    unpin: Collection[NormalizedName] = (),
    accept: Collection[NormalizedName] = (),
    dry_run: bool = False,
) -> PinPlan:
    """Plan against the file as it is now and, unless ``dry_run``, write the result whole.

    The path is resolved once: a symlink and its target are one file, so they share one lock
    and the file locked is the file written. The read, the plan and the write happen under
    that lock, so a second ``pin`` run waits and then plans against the first one's result
    instead of overwriting it. The new text is checked (``check_new_text``) before it is
    written, in a dry run too.
    """
    real = Path(os.path.realpath(path))
    with atomic.locked(real) if not dry_run else contextlib.nullcontext():
        exists = os.path.lexists(real)
        text = _read_policy_text(real) if exists else ""
        # The name decides the format (pyproject.toml or not): the one the user gave.
        existing = load_policy_file(path, text=text) if exists else None
        plan = plan_pins(
            path, text, existing, observed, checked=checked, unpin=unpin, accept=accept
        )
        if plan.after != plan.before:
            check_new_text(plan)
            if not dry_run:
                atomic.write_text(real, plan.after)
    return plan


def check_new_text(plan: PinPlan) -> None:
    """Refuse (``PolicyError``, the file unchanged) new text that would not load as written.

    The same rules as every run's ``load_policy_file`` (``MAX_POLICY_BYTES``, TOML, keys,
    values), exactly one managed block, and every pin reading back as the publisher it
    records: whatever the
    hand-written part holds (an inline ``publishers = {...}`` table, a lost marker line) or
    PyPI's unsigned record carries, ``pin`` never writes a file the next run cannot read.
    """
    path = plan.path
    try:
        _block_span(plan.after, path)
        loaded = load_policy_file(path, text=plan.after)
        for name, pin in (plan.pins or {}).items():
            publisher = loaded.publishers.get(name)
            if (
                publisher is None
                or _as_observed(publisher) != pin.observed
                or (name in loaded.pinned) != pin.pinned
            ):
                raise PolicyError(f"the pin of {name} would not read back as observed")
    except PolicyError as exc:
        raise PolicyError(
            f"{path} was not changed: the text pin would write does not load ({exc.message})",
            hint="fix the hand-written part of the file (an inline `publishers = {...}` table, "
            "a lost or repeated marker line) or pin fewer packages, then run pin again",
        ) from None


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
