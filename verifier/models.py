"""The domain model: what a release is, what a check found, what the verdict is.

Everything here is a frozen dataclass built from already-validated wire data, so that the code
that reasons about evidence never sees raw JSON.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from packaging.utils import NormalizedName


class Outcome(str, enum.Enum):
    """What one check concluded about one subject.

    The order of severity is FAILED > UNVERIFIABLE > SKIPPED > VERIFIED; a SKIPPED finding only
    exists when a policy allowed the evidence to be absent, so it never hides a failure.
    """

    VERIFIED = "verified"
    FAILED = "failed"
    UNVERIFIABLE = "unverifiable"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


class Verdict(str, enum.Enum):
    """The overall answer, with its exit code."""

    VERIFIED = "verified"
    FAILED = "failed"
    UNVERIFIABLE = "unverifiable"

    @property
    def exit_code(self) -> int:
        """0 verified, 1 failed, 2 unverifiable (3 is reserved for usage errors)."""
        return {Verdict.VERIFIED: 0, Verdict.FAILED: 1, Verdict.UNVERIFIABLE: 2}[self]

    def __str__(self) -> str:
        return self.value


EXIT_USAGE = 3
"""Exit code for usage and input errors: the question itself could not be asked."""

EXIT_INTERNAL = 4
"""Exit code for a bug or an interrupt: distinct from every verdict, so a crash never reads
as FAILED (Python's own code for an uncaught exception would be 1)."""


class Check(str, enum.Enum):
    """The kinds of evidence; each has one module under ``verifier/checks``."""

    INDEX_HASH = "index-hash"
    ATTESTATION = "attestation"
    BUNDLE = "bundle"
    RELEASE_ASSET = "release-asset"
    TAG = "tag"
    CROSS_LINK = "cross-link"
    LOCKFILE = "lockfile"
    VULNERABILITY = "vulnerability"
    PUBLISHER_PIN = "publisher-pin"
    HISTORY = "history"

    def __str__(self) -> str:
        return self.value


class EvidenceKind(str, enum.Enum):
    """A kind of evidence a policy can require, tolerate missing, or skip.

    One enum serves argparse (``--require``/``--allow-missing``/``--skip``) and the policy
    file, so the two can never disagree about which kinds exist.
    """

    ATTESTATIONS = "attestations"
    BUNDLES = "bundles"
    TAGS = "tags"
    VULNERABILITIES = "vulnerabilities"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def names(cls, kinds: Iterable[EvidenceKind]) -> tuple[str, ...]:
        """The kinds as the user types them."""
        return tuple(k.value for k in kinds)


MISSING_ALLOWABLE = (EvidenceKind.ATTESTATIONS, EvidenceKind.BUNDLES, EvidenceKind.TAGS)
"""Kinds whose absence ``--allow-missing`` may tolerate."""
REQUIRABLE = (EvidenceKind.BUNDLES, EvidenceKind.TAGS)
"""Kinds ``--require`` may make mandatory (attestations are always required)."""
SKIPPABLE = (EvidenceKind.BUNDLES, EvidenceKind.TAGS, EvidenceKind.VULNERABILITIES)
"""Kinds ``--skip`` may leave unchecked."""


@dataclass(frozen=True)
class ReleaseFile:
    """One distribution file as the index describes it."""

    filename: str
    url: str
    sha256: str | None
    """The index's published sha256 (lower-case hex), or None when the index published none."""
    size: int | None = None
    yanked: bool = False
    version: str | None = None
    """The version as the file name spells it, in PEP 440 normal form (``1.0.0``, ``1.0.0+cpu``):
    the release the index files it under, so the one to ask the Integrity API about. None when
    the file did not come from an index page."""
    provenance: str | None = None
    """The PEP 740 provenance URL the index gives for this file (absolute, not yet checked: the
    index is hostile, so ``IndexClient.provenance_at`` checks it before fetching), or None."""
    provenance_declared: bool = False
    """Whether the index said anything about provenance (simple API 1.3's ``provenance`` key).
    True with ``provenance`` None: the index declares the file has none, so nothing is asked.
    False: an older index; the Integrity API must be asked per file."""
    upload_time: str | None = None
    """The index's ``upload-time`` (ISO 8601, as served), or None when it gave none."""


@dataclass(frozen=True)
class Release:
    """One version of one project, as the index lists it."""

    name: NormalizedName
    version: str
    files: tuple[ReleaseFile, ...]
    project_urls: Mapping[str, str] = field(default_factory=dict)
    unparsed: tuple[str, ...] = ()
    """Files of this release on the index that are not verified (``.tar.bz2`` sdists, eggs,
    malformed wheel names): ``verifier.dists.unsupported_reason`` says why for each. Never
    dropped silently: the pipeline reports each as UNVERIFIABLE."""
    history: tuple[ReleaseFile, ...] = ()
    """The files of the project's *other* releases as the same index page lists them (name,
    version, upload time, yanked, provenance): the baseline ``verifier.checks.history`` holds
    this release to. Yanked files are kept: whoever holds a token can yank."""

    @property
    def label(self) -> str:
        """``name==version``, the way a user types it."""
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class CertificateEvidence:
    """What a verified Fulcio certificate says about the build that signed.

    Only read from certificates that sigstore has already verified, so later checks (tags,
    bundles) can cross-link on these values.
    """

    issuer: str | None
    identity: str | None
    repository: str | None
    workflow_ref: str | None
    build_config_uri: str | None
    ref: str | None
    commit: str | None
    runner_environment: str | None
    trigger: str | None
    run_url: str | None

    def as_dict(self) -> dict[str, str | None]:
        """Plain mapping for the report renderers."""
        return {
            "issuer": self.issuer,
            "identity": self.identity,
            "repository": self.repository,
            "workflow_ref": self.workflow_ref,
            "build_config_uri": self.build_config_uri,
            "ref": self.ref,
            "commit": self.commit,
            "runner_environment": self.runner_environment,
            "trigger": self.trigger,
            "run_url": self.run_url,
        }


@dataclass(frozen=True)
class PublisherRecord:
    """PyPI's record of the Trusted Publisher that uploaded a file (unsigned index metadata).

    ``fields`` holds every key PyPI recorded (``repository``, ``workflow``, ``environment``,
    ``workflow_filepath`` ...) as strings; ``kind`` is ``GitHub``, ``GitLab``, ``Google`` ...
    """

    kind: str | None
    fields: Mapping[str, str | None] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        """One recorded field, or None."""
        return self.fields.get(key)

    def describe(self) -> str:
        """``GitHub publisher (repository=..., workflow=...)`` for messages."""
        inner = ", ".join(f"{k}={v}" for k, v in self.fields.items() if v is not None)
        return f"{self.kind} publisher ({inner})"


@dataclass(frozen=True)
class TagEvidence:
    """What git's verifier said about the release tag (read by the cross-links)."""

    tag: str
    commit: str
    signer: str | None
    signature_format: str | None
    tagger: str | None
    trust: str


class Status(str, enum.Enum):
    """What a check found, before any policy is applied (the judge turns it into an Outcome).

    Checks only ever say what the evidence is; whether a gap is tolerated, fatal or allowed is
    the judge's decision alone (``verifier.judge``).
    """

    PROVEN = "proven"
    """The evidence exists and verifies."""
    CONTRADICTED = "contradicted"
    """The evidence exists and contradicts the release."""
    ABSENT = "absent"
    """The evidence does not exist (not published, not in the lockfile)."""
    UNPROVEN = "unproven"
    """The evidence exists but could not be proven (an unsigned tag, an untrusted key, a
    signature with no publisher to compare it with)."""
    UNREACHABLE = "unreachable"
    """The evidence could not be fetched or read."""
    NOT_CHECKED = "not-checked"
    """The check was not run because a policy said to skip it."""


class Gap(str, enum.Enum):
    """Which policy rule an ABSENT or UNPROVEN result is judged by, when not an EvidenceKind."""

    INDEX_DIGEST = "index-digest"
    """The index publishes no sha256 (never tolerated)."""
    HASH_PIN = "hash-pin"
    """A lockfile entry without a comparable hash (never tolerated)."""
    UNINDEXED = "unindexed"
    """A lockfile package not from an index (allowed only for packages named by a policy)."""
    IDENTITY = "identity"
    """No expected publisher from the user, a pin or the index (never tolerated)."""
    ORIGIN = "origin"
    """A lockfile that installs a package from elsewhere than the index compared with."""
    UNSUPPORTED_FILE = "unsupported-file"
    """A file of the release the tool cannot verify (an unparseable or legacy file name)."""
    LINK_END = "link-end"
    """A cross-link with a missing end: the missing evidence is judged by its own result."""
    PARTIAL = "partial"
    """A file without attestations in a release whose other files carry them (FAILED unless a
    policy names the package as partially attested)."""
    BASELINE = "baseline"
    """The earlier release this one is held to cannot be established (no usable upload time, a
    provenance that does not verify): the history is not compared, never assumed clean."""


@dataclass(frozen=True)
class CheckResult:
    """One check's typed finding about one subject, with no outcome chosen.

    ``kind`` names the rule a gap is judged by (an ``EvidenceKind`` the user can require,
    tolerate or skip, or a ``Gap`` no flag can tolerate). ``hint`` travels from the error that
    produced the result into the finding.
    """

    check: Check
    status: Status
    subject: str
    message: str
    kind: EvidenceKind | Gap | None = None
    expected: str | None = None
    actual: str | None = None
    certificate: CertificateEvidence | None = None
    certificates: tuple[CertificateEvidence, ...] = ()
    """Every verified certificate (a file may carry several attestations)."""
    publisher: PublisherRecord | None = None
    tag: TagEvidence | None = None
    details: Mapping[str, str | None] = field(default_factory=dict)
    location: str | None = None
    hint: str | None = None
    rule: str | None = None
    """For CONTRADICTED only: the fact that was contradicted, when the check's default rule
    does not name it (e.g. "a signed tag must carry the name it is published under")."""


@dataclass(frozen=True)
class Finding:
    """One check's conclusion about one subject (usually a file), as judged by the policy.

    ``expected``/``actual`` hold the exact values that disagreed (or agreed); ``policy`` names the
    rule that made a non-verified outcome count and ``policy_source`` where that rule came from
    (a flag, a policy file by path, a pin, the default), so a user knows which knob to turn.
    Only ``verifier.judge`` builds findings.
    """

    check: Check
    outcome: Outcome
    subject: str
    message: str
    expected: str | None = None
    actual: str | None = None
    policy: str | None = None
    policy_source: str | None = None
    certificate: CertificateEvidence | None = None
    certificates: tuple[CertificateEvidence, ...] = ()
    publisher: PublisherRecord | None = None
    tag: TagEvidence | None = None
    details: Mapping[str, str | None] = field(default_factory=dict)
    location: str | None = None
    """``path:line`` in the input (a lockfile) this finding is about, when there is one."""
    hint: str | None = None


@dataclass(frozen=True)
class TrustRootInfo:
    """Which Sigstore trust root verified the signatures, and how far to trust that choice."""

    source: str
    """``tuf`` (refreshed and verified now), ``embedded`` (shipped with sigstore) or ``custom``."""
    description: str
    path: str | None
    expires: str | None
    expired: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseReport:
    """All findings for one release."""

    label: str
    files: tuple[ReleaseFile, ...]
    findings: tuple[Finding, ...]
    identity_source: str | None = None
    expected_identity: Mapping[str, str | None] = field(default_factory=dict)
    name: str | None = None
    """The project's normalised name, for pinning what was verified (``--write-requirements``):
    the label of a local file is its file name. None for a subject not from an index."""
    version: str | None = None
    """The release's version as the index lists it (None when unknown)."""


@dataclass(frozen=True)
class RequirementsOutcome:
    """What ``--write-requirements FILE`` did: written only after a run that exits 0."""

    path: str
    written: bool
    message: str
    """One line for people: what was written, or why nothing was."""
    packages: int = 0
    hashes: int = 0


@dataclass(frozen=True)
class Report:
    """Everything a run concluded; the renderers are pure functions of this."""

    releases: tuple[ReleaseReport, ...]
    trust_root: TrustRootInfo | None
    verdict: Verdict
    warnings: tuple[str, ...] = ()
    requirements: RequirementsOutcome | None = None
    """Set when ``--write-requirements`` was asked for: whether the file was written."""

    @property
    def findings(self) -> Iterable[Finding]:
        """Every finding of every release."""
        for release in self.releases:
            yield from release.findings


def compute_verdict(findings: Iterable[Finding]) -> Verdict:
    """The one place the verdict is computed: any failure fails, any gap is unverifiable.

    A run with no findings at all proved nothing and is therefore unverifiable, never verified.
    """
    outcomes = {f.outcome for f in findings}
    if Outcome.FAILED in outcomes:
        return Verdict.FAILED
    if Outcome.UNVERIFIABLE in outcomes or Outcome.VERIFIED not in outcomes:
        return Verdict.UNVERIFIABLE
    return Verdict.VERIFIED
