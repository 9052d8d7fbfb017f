"""History as the baseline: a release is held to the standard of the release uploaded before it.

The attacks that reach PyPI users are rarely forged signatures: a stolen API token uploads a
release (or one more file of a release) *without* the attestations the project's releases
carried, or a taken-over account registers a *new* Trusted Publisher. Neither is visible when a
release is compared only with itself, so this check compares it with the project's history as
the index page the tool already fetched lists it:

1. **no downgrade across releases**: the most recent release uploaded earlier (by the simple
   API's ``upload-time``, not by version number, so a back-filled 1.9.1 uploaded after 2.0.0 is
   held to 2.0.0; yanked releases count) carried attestations and this one carries none;
2. **no downgrade inside a release**: a file without attestations next to attested siblings;
3. **no silent change of publisher**: this release's verified attestations come from another
   publisher than the most recent earlier attested release's, and the user pinned neither.

Naming the earlier publisher costs one provenance request per package (the baseline's attested
file; provenance is immutable and cached). The baseline's provenance is verified against its
own publisher record before its publisher is named: one that does not verify is reported, never
trusted. Like every check this returns typed results and never chooses an outcome.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from verifier.certificates import GITHUB_ACTIONS_ISSUER, GITLAB_ISSUER
from verifier.errors import VerifierError
from verifier.models import (
    CertificateEvidence,
    Check,
    CheckResult,
    EvidenceKind,
    Gap,
    PublisherRecord,
    Release,
    ReleaseFile,
    Status,
)

_UPLOAD_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)

LOST_RULE = "a release must carry the attestations of the release uploaded before it"
PARTIAL_RULE = (
    "every file of an attested release must be attested; a policy may name the package with "
    "[packages.NAME] partially-attested = true"
)
PUBLISHER_RULE = (
    "the publisher must not change silently: pin the new one (--repository, a policy "
    "[publishers] entry, `verify-release pin`) to accept it"
)

FetchProvenance = Callable[[ReleaseFile], bytes]
"""The raw provenance of a baseline file (raises a ``VerifierError`` when it cannot be read)."""
VerifyProvenance = Callable[[bytes, ReleaseFile, str], CheckResult]
"""Verifies a baseline's provenance against its own publisher record: (raw, file, digest)."""


def upload_moment(value: str | None) -> dt.datetime | None:
    """The index's ``upload-time`` as an aware UTC datetime; None when absent or malformed.

    Read strictly (PEP 700's ISO 8601 with a zone): a hostile or odd value makes the file's
    time unusable, which leaves it out of the ordering; it never raises.
    """
    if value is None or not _UPLOAD_TIME.fullmatch(value):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Year 1 or 9999 with an offset overflows on the way to UTC (OverflowError).
        return moment.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class Publisher:
    """Who published, as compared across releases: kind, repository, workflow, environment.

    Kind, repository and workflow come from the verified certificate; the environment is not in
    certificates, so it comes from PyPI's record when PyPI keeps one.
    """

    kind: str
    repository: str
    workflow: str
    environment: str | None

    def key(self) -> tuple[str, str, str, str]:
        """What must be equal (repository paths are case-insensitive on GitHub and GitLab)."""
        return (self.kind, self.repository.lower(), self.workflow, self.environment or "")

    def describe(self) -> str:
        """``GitHub example/pkg release.yml`` (``, environment pypi`` when recorded)."""
        text = f"{self.kind} {self.repository} {self.workflow}"
        return f"{text}, environment {self.environment}" if self.environment else text


def publisher_of(
    cert: CertificateEvidence | None, record: PublisherRecord | None
) -> Publisher | None:
    """The publisher a verified attestation names; None when its certificate names none."""
    if cert is None or not cert.repository:
        return None
    kind = {GITHUB_ACTIONS_ISSUER: "GitHub", GITLAB_ISSUER: "GitLab"}.get(
        cert.issuer or "", (record.kind if record else None) or cert.issuer or "?"
    )
    repository = cert.repository.split("://", 1)[-1].split("/", 1)[-1].removesuffix(".git")
    uri = (cert.build_config_uri or cert.workflow_ref or "").split("@", 1)[0]
    workflow = uri.rsplit("/", 1)[-1] or "?"
    environment = record.get("environment") if record is not None else None
    return Publisher(kind, repository, workflow, environment or None)


@dataclass(frozen=True)
class Earlier:
    """Another release of the project as the page lists it, placed by its first upload."""

    version: str
    uploaded: dt.datetime
    files: tuple[ReleaseFile, ...]

    @property
    def attested(self) -> tuple[ReleaseFile, ...]:
        """Its files that the index declares provenance for."""
        return tuple(f for f in self.files if f.provenance is not None)

    def when(self) -> str:
        """The upload day, as messages name it."""
        return self.uploaded.strftime("%Y-%m-%d")


def _by_version(history: Sequence[ReleaseFile]) -> dict[str, list[ReleaseFile]]:
    """The other releases' files, grouped by version (files of no known version left out)."""
    grouped: dict[str, list[ReleaseFile]] = {}
    for file in history:
        if file.version is not None:
            grouped.setdefault(file.version, []).append(file)
    return grouped


def _releases(history: Sequence[ReleaseFile]) -> tuple[list[Earlier], list[str]]:
    """The releases with a usable upload time (oldest first), and attested ones without one.

    An attested release whose files carry no usable upload time cannot be placed in time, so it
    cannot be left out either: an unknown baseline is never a clean one.
    """
    out = []
    untimed = []
    for version, files in _by_version(history).items():
        moments = [m for m in (upload_moment(f.upload_time) for f in files) if m is not None]
        if moments:
            out.append(Earlier(version, min(moments), tuple(files)))
        elif any(f.provenance is not None for f in files):
            untimed.append(version)
    return sorted(out, key=lambda r: (r.uploaded, r.version)), sorted(untimed)


def _lacks(result: CheckResult) -> bool:
    """Whether an attestation result says the file has none (not: could not be read)."""
    return result.status is Status.ABSENT and result.kind is EvidenceKind.ATTESTATIONS


@dataclass(frozen=True)
class _Baseline:
    release: Earlier
    file: ReleaseFile
    publisher: Publisher | None
    problem: str | None
    """Why the publisher is unknown (unreadable or unverified provenance), or None."""
    unreachable: VerifierError | None = None

    def details(self) -> dict[str, str | None]:
        return {
            "baseline.version": self.release.version,
            "baseline.upload_time": self.release.uploaded.isoformat().replace("+00:00", "Z"),
            "baseline.file": self.file.filename,
            "baseline.publisher": self.publisher.describe() if self.publisher else None,
        }

    def by(self) -> str:
        if self.publisher is not None:
            return f"by {self.publisher.describe()}"
        return f"(publisher unknown: {self.problem})"


def check_history(
    release: Release,
    files: Sequence[ReleaseFile],
    attestations: Sequence[CheckResult],
    *,
    fetch: FetchProvenance,
    verify: VerifyProvenance,
    explicit: str | None,
) -> list[CheckResult]:
    """Results comparing a release with its project's history (none when there is no baseline).

    ``release``: this version as the index lists it (every file, and ``history``). ``files``
    and ``attestations``: the files verified and their attestation results, in order.
    ``explicit``: where the user pinned the expected publisher (a flag, a policy entry, a pin),
    which then wins over the history; None when nobody did.
    """
    results: list[CheckResult] = []
    by_file = dict(zip((f.filename for f in files), attestations, strict=True))
    lacking = [f for f in files if _lacks(by_file[f.filename])]
    # Attested: what the index declares, and what the verified files turned out to carry.
    attested_here = list(
        {
            f.filename: f
            for f in (*release.files, *files)
            if f.provenance is not None
            or (f.filename in by_file and not _lacks(by_file[f.filename]))
        }.values()
    )
    if lacking and attested_here:
        results += [_partial(release, f, attested_here) for f in lacking]
    proven = [
        by_file[f.filename]
        for f in files
        if by_file[f.filename].status is Status.PROVEN
        and by_file[f.filename].check is Check.ATTESTATION
    ]
    mixed = _mixed_publishers(release, files, by_file, explicit)
    if mixed is not None:
        results.append(mixed)
    others, untimed = _releases(release.history)
    if untimed:
        return [
            *results,
            CheckResult(
                check=Check.HISTORY,
                status=Status.UNPROVEN,
                kind=Gap.BASELINE,
                subject=release.label,
                message=f"the index gives no usable upload time for the attested release"
                f"{'s' if len(untimed) > 1 else ''} {', '.join(untimed)}, so whether "
                f"{release.version} came after {'them' if len(untimed) > 1 else 'it'} is unknown",
                expected="an upload-time for each file (ISO 8601)",
            ),
        ]
    if not any(r.attested for r in others):
        return results  # the project never attested another release: nothing to lose
    moments = [m for m in (upload_moment(f.upload_time) for f in release.files) if m is not None]
    if not moments:
        return [
            *results,
            CheckResult(
                check=Check.HISTORY,
                status=Status.UNPROVEN,
                kind=Gap.BASELINE,
                subject=release.label,
                message=f"the index gives no usable upload time for {release.version}, so which "
                "of the project's attested releases came before it is unknown",
                expected="an upload-time for each file (ISO 8601)",
                actual=", ".join(sorted({str(f.upload_time) for f in release.files})),
            ),
        ]
    # A release is held to the standard of every attested release uploaded before its NEWEST
    # file: a file added later to an old release (a stolen token can add one) is not old.
    uploaded = max(moments)
    attested_before = [r for r in others if r.uploaded < uploaded and r.attested]
    if not attested_before:
        return results  # the first attested release, or older than any: no baseline yet
    if not attested_here and lacking:
        # The most recent earlier ATTESTED release, not merely the previous upload: one
        # throwaway unattested release in between must not launder the downgrade.
        previous = attested_before[-1]
        baseline = _baseline(previous, fetch, verify)
        results.append(
            CheckResult(
                check=Check.HISTORY,
                status=Status.CONTRADICTED,
                subject=release.label,
                message=f"attestations lost: {previous.version}, uploaded {previous.when()}, was "
                f"attested {baseline.by()}; {release.version} has none",
                expected=f"attestations, as {previous.version} carried",
                actual="none",
                details=baseline.details(),
                rule=LOST_RULE,
            )
        )
    elif proven:
        # The project's first attested release is the publisher's baseline: a throwaway
        # release by a new publisher must not become the standard the next one is held to.
        results.append(
            _same_publisher(release, proven, _baseline(attested_before[0], fetch, verify), explicit)
        )
    return results


def _mixed_publishers(
    release: Release,
    files: Sequence[ReleaseFile],
    by_file: dict[str, CheckResult],
    explicit: str | None,
) -> CheckResult | None:
    """Attestations of one release naming different publishers, with none pinned."""
    if explicit is not None:
        return None  # every attestation was verified against the pinned publisher
    seen: dict[tuple[str, str, str, str], tuple[Publisher, list[str]]] = {}
    for file in files:
        result = by_file[file.filename]
        if result.status is not Status.PROVEN or result.check is not Check.ATTESTATION:
            continue
        publisher = publisher_of(result.certificate, result.publisher)
        if publisher is None:
            continue
        seen.setdefault(publisher.key(), (publisher, []))[1].append(file.filename)
    if len(seen) < 2:
        return None
    named = "; ".join(
        f"{publisher.describe()} ({', '.join(names)})" for publisher, names in seen.values()
    )
    return CheckResult(
        check=Check.HISTORY,
        status=Status.CONTRADICTED,
        subject=release.label,
        message=f"the files of {release.version} are attested by different publishers: {named}",
        expected="one publisher for every file of a release",
        actual=named,
        rule=PUBLISHER_RULE,
        hint="if both are legitimate, pin the expected one (--repository, --workflow, or a "
        "policy [publishers] entry)",
    )


def _baseline(release: Earlier, fetch: FetchProvenance, verify: VerifyProvenance) -> _Baseline:
    """The baseline's publisher from its first attested file: one provenance request."""
    file = min(
        release.attested,
        key=lambda f: (upload_moment(f.upload_time) or release.uploaded, f.filename),
    )
    if file.sha256 is None:
        return _Baseline(release, file, None, f"the index publishes no sha256 for {file.filename}")
    try:
        raw = fetch(file)
    except VerifierError as exc:
        return _Baseline(release, file, None, f"its provenance cannot be read: {exc}", exc)
    result = verify(raw, file, file.sha256)
    if result.status is not Status.PROVEN:
        return _Baseline(
            release,
            file,
            None,
            f"the provenance of {file.filename} does not verify: {result.message}",
        )
    publisher = publisher_of(result.certificate, result.publisher)
    if publisher is None:
        return _Baseline(release, file, None, "its certificate names no repository")
    return _Baseline(release, file, publisher, None)


def _same_publisher(
    release: Release, proven: list[CheckResult], baseline: _Baseline, explicit: str | None
) -> CheckResult:
    earlier = baseline.release
    if baseline.publisher is None:
        if baseline.unreachable is not None:
            return CheckResult(
                check=Check.HISTORY,
                status=Status.UNREACHABLE,
                subject=release.label,
                message=f"the publisher of {earlier.version}, uploaded {earlier.when()}, cannot "
                f"be compared: {baseline.problem}",
                details=baseline.details(),
                hint=baseline.unreachable.hint,
            )
        return CheckResult(
            check=Check.HISTORY,
            status=Status.UNPROVEN,
            kind=Gap.BASELINE,
            subject=release.label,
            message=f"the publisher of {earlier.version}, uploaded {earlier.when()}, cannot be "
            f"compared: {baseline.problem}",
            details=baseline.details(),
        )
    now = [publisher_of(r.certificate, r.publisher) for r in proven]
    key = baseline.publisher.key()
    differing = [p for p in now if p is None or p.key() != key]
    was = baseline.publisher.describe()
    if not differing:
        return CheckResult(
            check=Check.HISTORY,
            status=Status.PROVEN,
            subject=release.label,
            message=f"same publisher as {earlier.version}, uploaded {earlier.when()}: {was}",
            details=baseline.details(),
        )
    changed = differing[0]
    is_now = changed.describe() if changed is not None else "a certificate naming no repository"
    if explicit is not None:
        return CheckResult(
            check=Check.HISTORY,
            status=Status.PROVEN,
            subject=release.label,
            message=f"the publisher changed from {was} ({earlier.version}, uploaded "
            f"{earlier.when()}) to {is_now}, accepted by {explicit}",
            expected=was,
            actual=is_now,
            details=baseline.details(),
        )
    return CheckResult(
        check=Check.HISTORY,
        status=Status.CONTRADICTED,
        subject=release.label,
        message=f"publisher changed: {earlier.version}, uploaded {earlier.when()}, was attested "
        f"by {was}; {release.version} is attested by {is_now}",
        expected=was,
        actual=is_now,
        details=baseline.details(),
        rule=PUBLISHER_RULE,
        hint="if the project moved on purpose, pin the new publisher (--repository, "
        "--workflow, or `verify-release pin`)",
    )


def _partial(release: Release, file: ReleaseFile, attested: Sequence[ReleaseFile]) -> CheckResult:
    """One file without attestations among attested siblings, placed in time against them."""
    siblings = sorted({f.filename for f in attested if f.filename != file.filename})
    times = [m for m in (upload_moment(f.upload_time) for f in attested) if m is not None]
    moment = upload_moment(file.upload_time)
    if moment is None or not times:
        when = "at a time the index does not say"
    elif moment > max(times):
        when = f"at {_stamp(moment)}, after its attested siblings (last {_stamp(max(times))})"
    elif moment < min(times):
        when = f"at {_stamp(moment)}, before its attested siblings (first {_stamp(min(times))})"
    else:
        when = f"at {_stamp(moment)}, among its attested siblings"
    count = len(siblings)
    return CheckResult(
        check=Check.HISTORY,
        status=Status.CONTRADICTED,
        kind=Gap.PARTIAL,
        subject=file.filename,
        message=f"attestations missing from one file: {file.filename}, uploaded {when}, has "
        f"none while {count} other file{'s' if count != 1 else ''} of {release.version} "
        f"carr{'y' if count != 1 else 'ies'} them",
        expected="attestations, as its siblings carry",
        actual="none",
        details={"attested_siblings": ", ".join(siblings)},
        rule=PARTIAL_RULE,
    )


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def earlier_releases(listed: Release) -> list[Earlier] | None:
    """The project's releases uploaded before ``listed``, newest first; None when unknown.

    Bundles and tags are looked up on the forge by version, so *any* release the index cannot
    place in time (a missing or malformed ``upload-time``) makes "the release before this one"
    unknown; so does a verified release whose own time is unknown. Unknown is never "none".
    """
    moments = [upload_moment(f.upload_time) for f in listed.files]
    if not moments or None in moments:
        return None
    uploaded = max(m for m in moments if m is not None)
    out: list[Earlier] = []
    for version, files in _by_version(listed.history).items():
        times = [upload_moment(f.upload_time) for f in files]
        if None in times:
            return None
        first = min(t for t in times if t is not None)
        if first < uploaded:
            out.append(Earlier(version, first, tuple(files)))
    return sorted(out, key=lambda r: (r.uploaded, r.version), reverse=True)


@dataclass(frozen=True)
class SourceBaseline:
    """What the project's previous release carried on the forge, for bundles or signed tags.

    ``release`` is the most recent earlier release the forge knows (a GitHub Release for
    bundles, a tag for signed tags): a release uploaded to the index alone (which a stolen
    index token can do, but which has no forge counterpart) is passed over, so it cannot
    launder the standard. None: no earlier release has a forge counterpart.
    """

    kind: EvidenceKind
    release: Earlier | None
    carried: bool
    where: str
    """The forge object read: ``GitHub release v1.0.0``, ``tag v1.0.0``."""


_SOURCE_NAMES = {EvidenceKind.BUNDLES: "Sigstore bundles", EvidenceKind.TAGS: "a signed tag"}
_SOURCE_NONE = {EvidenceKind.BUNDLES: "no Sigstore bundles", EvidenceKind.TAGS: "no signed tag"}
SOURCE_LOST_RULE = (
    "a release must carry the evidence the release uploaded before it carried ({kind})"
)


def compare_sources(
    baseline: SourceBaseline, subject: str, version: str
) -> tuple[CheckResult | None, str | None]:
    """Compare a release that lacks bundles or a signed tag with its previous release.

    Returns a contradiction when the previous release carried the evidence (a downgrade,
    FAILED whatever ``--allow-missing`` says), else where the rule "not published by this
    project" comes from (``history: ...``), for the judge to name. Called only when this
    release lacks the evidence entirely: evidence that exists must still verify.
    """
    kind = baseline.kind
    what = _SOURCE_NAMES.get(kind, kind.value)
    earlier = baseline.release
    if earlier is None:
        return None, f"history: no earlier release of the project carried {what}"
    if not baseline.carried:
        return None, (
            f"history: {earlier.version}, uploaded {earlier.when()}, carried "
            f"{_SOURCE_NONE.get(kind, kind.value)} ({baseline.where})"
        )
    return (
        CheckResult(
            check=Check.HISTORY,
            status=Status.CONTRADICTED,
            kind=kind,
            subject=subject,
            message=f"{kind.value} lost: {earlier.version}, uploaded {earlier.when()}, carried "
            f"{what} ({baseline.where}); {version} has none",
            expected=f"{what}, as {earlier.version} carried",
            actual="none",
            details={
                "baseline.version": earlier.version,
                "baseline.upload_time": earlier.uploaded.isoformat().replace("+00:00", "Z"),
                "baseline.source": baseline.where,
            },
            rule=SOURCE_LOST_RULE.format(kind=what),
            hint=f"if the project stopped publishing {what} on purpose, skip them for this "
            f'package: [packages.{subject.split("==", 1)[0]}] skip = ["{kind.value}"] in the '
            f"policy file (or --skip {kind.value})",
        ),
        None,
    )


def explicit_source(source: str | None, pin_source: str | None) -> str | None:
    """Where the user pinned the expected publisher, or None when nobody did.

    The command line (``--repository``) and a policy file's ``[publishers]`` entry (written by
    hand or by ``verify-release pin``) are explicit; the index's project URLs and a lockfile's
    identities are not: they are not the user's own word about who publishes.
    """
    if source == "command line":
        return "--repository"
    if source is not None and source.startswith("policy ") and pin_source is not None:
        return pin_source
    return None


__all__ = [
    "LOST_RULE",
    "PARTIAL_RULE",
    "PUBLISHER_RULE",
    "SOURCE_LOST_RULE",
    "Earlier",
    "Publisher",
    "SourceBaseline",
    "check_history",
    "compare_sources",
    "earlier_releases",
    "explicit_source",
    "publisher_of",
    "upload_moment",
]
