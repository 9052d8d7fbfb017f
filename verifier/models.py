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
class Finding:
    """One check's conclusion about one subject (usually a file).

    ``expected``/``actual`` hold the exact values that disagreed (or agreed); ``policy`` names the
    rule that made a non-verified outcome count, so a user knows which knob to turn.
    """

    check: Check
    outcome: Outcome
    subject: str
    message: str
    expected: str | None = None
    actual: str | None = None
    policy: str | None = None
    evidence: Mapping[str, str | None] = field(default_factory=dict)
    location: str | None = None
    """``path:line`` in the input (a lockfile) this finding is about, when there is one."""


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


@dataclass(frozen=True)
class Report:
    """Everything a run concluded; the renderers are pure functions of this."""

    releases: tuple[ReleaseReport, ...]
    trust_root: TrustRootInfo | None
    verdict: Verdict
    warnings: tuple[str, ...] = ()

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
