"""The chain: resolve the release, run every check on every file, collect the findings.

This is the only module that knows the order of the checks and how their evidence relates;
checks themselves never print, and the verdict is computed from the findings in one place
(``models.compute_verdict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from verifier.checks.attestations import AttestationChecker
from verifier.checks.hashes import FileCache, check_file, check_local, sha256_file
from verifier.errors import NetworkError, NotFoundError, UpstreamError, UsageError
from verifier.models import Check, Finding, Outcome, Release, ReleaseFile, ReleaseReport
from verifier.policy import ExpectedPublisher, Policy, publisher_from_project_urls
from verifier.pypi import IndexClient, dist_version

MAX_LOCAL_PROVENANCE_BYTES = 2 * 1024 * 1024

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


@dataclass(frozen=True)
class IdentityChoice:
    """The expected publisher for one release and where it came from."""

    expected: ExpectedPublisher | None
    source: str
    warnings: tuple[str, ...] = ()


class Chain:
    """Composes the index client, the file cache and the evidence checks."""

    def __init__(
        self,
        *,
        index: IndexClient,
        cache: FileCache,
        attestations: AttestationChecker,
        policy: Policy,
        progress: Progress = _quiet,
    ) -> None:
        self.index = index
        self.cache = cache
        self.attestations = attestations
        self.policy = policy
        self.progress = progress
        self.warnings: list[str] = []

    # -- identity ----------------------------------------------------------------------------

    def choose_identity(
        self, name: NormalizedName, version: str, *, use_index: bool
    ) -> IdentityChoice:
        """The user's ``--repository``; else the index's project URLs; else PyPI's record."""
        if self.policy.expected is not None:
            return IdentityChoice(self.policy.expected, "command line (--repository)")
        if use_index:
            try:
                urls = self.index.project_urls(name, version)
            except (NetworkError, UpstreamError) as exc:
                urls = {}
                self.warnings.append(f"could not read the project's URLs from the index: {exc}")
            found = publisher_from_project_urls(urls)
            if found is not None:
                return IdentityChoice(
                    found,
                    "identity taken from the index (project URLs; weaker: whoever controls the "
                    "project can change them; pin it with --repository)",
                )
        return IdentityChoice(
            None,
            "PyPI's publisher record in each provenance (weakest: the index's own claim; pin "
            "the publisher with --repository)",
        )

    # -- a release from the index ------------------------------------------------------------

    def verify_pin(self, name: NormalizedName, version: Version) -> ReleaseReport:
        """Every file of ``name==version``: index hash, then PEP 740 provenance."""
        label = f"{name}=={version}"
        self.progress(f"{label}: reading the index")
        try:
            release = self.index.release(name, version)
        except NotFoundError as exc:
            raise UsageError(exc.message, hint=exc.hint) from None
        except (NetworkError, UpstreamError) as exc:
            finding = Finding(
                check=Check.INDEX_HASH,
                outcome=Outcome.UNVERIFIABLE,
                subject=label,
                message=str(exc),
                policy="the index must answer",
            )
            return ReleaseReport(label=label, files=(), findings=(finding,))
        identity = self.choose_identity(release.name, release.version, use_index=True)
        yanked = [f.filename for f in release.files if f.yanked]
        if yanked:
            self.warnings.append(
                f"{label}: the index marks {', '.join(yanked)} as yanked; installers skip "
                "yanked files unless pinned exactly"
            )
        findings: list[Finding] = []
        total = len(release.files)
        for number, file in enumerate(release.files, start=1):
            self.progress(f"{label}: [{number}/{total}] {file.filename}: download and hash")
            findings.append(check_file(self.index.http, self.cache, file))
            self.progress(f"{label}: [{number}/{total}] {file.filename}: provenance")
            findings.append(self._attestation(release, file, identity.expected))
        return ReleaseReport(
            label=label,
            files=release.files,
            findings=tuple(findings),
            identity_source=identity.source,
            expected_identity=identity.expected.as_dict() if identity.expected else {},
        )

    def _attestation(
        self, release: Release, file: ReleaseFile, expected: ExpectedPublisher | None
    ) -> Finding:
        if file.sha256 is None:
            return Finding(
                check=Check.ATTESTATION,
                outcome=Outcome.UNVERIFIABLE,
                subject=file.filename,
                message="the index publishes no sha256 to compare the attestation with",
                policy=self.policy.missing_rule("attestations"),
            )
        try:
            raw = self.index.provenance(release.name, release.version, file.filename)
        except NotFoundError:
            return self.attestations.missing(
                file.filename, "the index has no provenance for this file (HTTP 404)", self.policy
            )
        except (NetworkError, UpstreamError, UsageError) as exc:
            return Finding(
                check=Check.ATTESTATION,
                outcome=Outcome.UNVERIFIABLE,
                subject=file.filename,
                message=str(exc),
                policy="provenance must be readable when the index is asked",
            )
        return self.attestations.check_provenance(
            raw, filename=file.filename, digest=file.sha256, policy=self.policy, expected=expected
        )

    # -- a local distribution ----------------------------------------------------------------

    def verify_local(self, path: Path, *, provenance: Path | None, offline: bool) -> ReleaseReport:
        """A distribution on disk, against a local provenance file and/or the index."""
        parsed = dist_version(path.name)
        if parsed is None:
            raise UsageError(
                f"{path.name!r} is not a wheel or sdist file name",
                hint="pass a .whl, .tar.gz or .zip distribution, or NAME==VERSION",
            )
        name, version = parsed
        label = f"{path.name}"
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        digest = sha256_file(path)
        findings: list[Finding] = []
        release: Release | None = None
        if offline:
            findings.append(
                Finding(
                    check=Check.INDEX_HASH,
                    outcome=Outcome.SKIPPED,
                    subject=path.name,
                    message="--offline: the index was not consulted",
                    actual=f"sha256:{digest}",
                    policy="--offline",
                )
            )
        else:
            self.progress(f"{label}: reading the index")
            try:
                release = self.index.release(name, version)
            except (NetworkError, UpstreamError) as exc:
                findings.append(
                    Finding(
                        check=Check.INDEX_HASH,
                        outcome=Outcome.UNVERIFIABLE,
                        subject=path.name,
                        message=str(exc),
                        actual=f"sha256:{digest}",
                        policy="index hashes are always required",
                    )
                )
            else:
                match = next((f for f in release.files if f.filename == path.name), None)
                findings.append(check_local(path, match))
        identity = self.choose_identity(name, str(version), use_index=not offline)
        if provenance is not None:
            raw = _read_capped(provenance)
            findings.append(
                self.attestations.check_attestation_file(
                    raw,
                    filename=path.name,
                    digest=digest,
                    policy=self.policy,
                    expected=identity.expected,
                )
            )
        elif offline:
            raise UsageError(
                "--offline with a local file needs --provenance FILE",
                hint="download the provenance first, or drop --offline",
            )
        else:
            local = ReleaseFile(filename=path.name, url="", sha256=digest)
            findings.append(
                self._attestation(
                    release or Release(name=name, version=str(version), files=()),
                    local,
                    identity.expected,
                )
            )
        return ReleaseReport(
            label=label,
            files=(ReleaseFile(filename=path.name, url=path.resolve().as_uri(), sha256=digest),),
            findings=tuple(findings),
            identity_source=identity.source,
            expected_identity=identity.expected.as_dict() if identity.expected else {},
        )


def _read_capped(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LOCAL_PROVENANCE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--provenance {path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_LOCAL_PROVENANCE_BYTES:
        raise UsageError(f"--provenance {path}: larger than {MAX_LOCAL_PROVENANCE_BYTES} bytes")
    return data
