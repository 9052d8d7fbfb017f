"""Sigstore bundles attached to the GitHub Release (``<file>.sigstore.json`` and kin).

A bundle is verified with sigstore-python's ``Verifier`` against an identity policy: the
release workflow at the tag must have signed (itself, or through a reusable workflow it called:
see ``BundleIdentity``), the issuer must be GitHub Actions, and the GitHub claims (repository,
ref) must agree. Repository names compare as GitHub does, ignoring letter case.
Message-signature bundles are checked against the index's sha256 (no download needed: the
index-hash check ties bytes to that digest); DSSE bundles (in-toto statements) must name that
sha256 among their subjects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.certificates import (
    GITHUB_ACTIONS_ISSUER,
    GitHubRepositoryPolicy,
    evidence,
    same_repository,
    same_workflow_uri,
)
from verifier.checks import (
    FOREIGN_ROOT,
    FOREIGN_ROOT_HINT,
    CheckFailure,
    foreign_issuer,
    signature_sound,
)
from verifier.errors import (
    NetworkError,
    RefusedURL,
    UpstreamError,
    UsageError,
    one_line,
)
from verifier.models import (
    CertificateEvidence,
    Check,
    CheckResult,
    EvidenceKind,
    ReleaseFile,
    Status,
)

if TYPE_CHECKING:
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

    from verifier.certificates import ReleaseWorkflowPolicy
    from verifier.github import Asset, GitHubClient, GitHubRelease
    from verifier.trust import StagingDetector

BUNDLE_SUFFIXES = (".sigstore.json", ".sigstore", ".sigstore.bundle", ".bundle.json", ".bundle")
"""Names bundles go by beside their artifact, in order of preference."""
MAX_BUNDLE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BundleIdentity:
    """Who must have signed the bundles of one release.

    When ``identity`` is the release workflow at the tag
    (``https://github.com/{repository}/.github/workflows/FILE@{ref}``, as the release flow builds
    it), a certificate matches if that workflow signed itself (its SAN) or if it called a
    reusable workflow that signed (its Build Config URI, with the Source Repository URI naming
    ``repository``); the repository part ignores ASCII letter case, as GitHub does. Any other
    ``identity``, or one marked ``exact_identity`` (an explicit ``--cert-identity``), must be
    the SAN exactly, as ``sigstore verify identity`` requires.
    """

    identity: str | None
    """The release workflow at the tag, or an exact certificate SAN; None when the workflow is
    unknown (then repository and ref are required instead)."""
    issuer: str
    repository: str | None
    """``OWNER/REPO`` for the GitHub claims, when known."""
    ref: str | None
    """``refs/tags/TAG`` for the GitHub claims, when known."""
    exact_identity: bool = False
    """``identity`` came from the user (``--cert-identity``): only that exact SAN matches."""

    def describe(self) -> str:
        """What the report prints as *expected*."""
        if self.identity:
            return f"identity {self.identity}, issuer {self.issuer}"
        return f"repository {self.repository} at {self.ref}, issuer {self.issuer} (any workflow)"

    def workflow_policy(self) -> ReleaseWorkflowPolicy | None:
        """The SAN-or-Build-Config rule, when ``identity`` is the release workflow at the tag."""
        from verifier.certificates import ReleaseWorkflowPolicy

        if self.exact_identity or self.issuer != GITHUB_ACTIONS_ISSUER:
            return None
        if not (self.identity and self.repository and self.ref):
            return None
        repository = f"https://github.com/{self.repository}"
        prefix, suffix = "/.github/workflows/", f"@{self.ref}"
        rest = self.identity[len(repository) :]
        name = rest[len(prefix) : -len(suffix)]
        if not (
            same_repository(repository, self.identity[: len(repository)])
            and rest.startswith(prefix)
            and rest.endswith(suffix)
            and name
            and not set(name) & {"/", "@"}
        ):
            return None
        return ReleaseWorkflowPolicy(repository, rest)

    def policy(self) -> VerificationPolicy:
        """The sigstore policy; ``AllOf`` of every claim we know, never an empty one."""
        from sigstore.verify import policy as sp

        parts: list[VerificationPolicy] = []
        workflow = self.workflow_policy()
        if workflow is not None:
            parts += [sp.OIDCIssuer(self.issuer), workflow]
        elif self.identity:
            parts.append(sp.Identity(identity=self.identity, issuer=self.issuer))
        else:
            parts.append(sp.OIDCIssuer(self.issuer))
        if self.repository and self.issuer == GITHUB_ACTIONS_ISSUER:
            parts.append(GitHubRepositoryPolicy(self.repository))
        if self.ref and self.issuer == GITHUB_ACTIONS_ISSUER:
            parts.append(sp.GitHubWorkflowRef(self.ref))
        return sp.AllOf(parts)

    def matched(self, cert: CertificateEvidence) -> str:
        """Which rule a certificate this identity accepted matched, for the report.

        ``release workflow URL`` when the workflow signed itself, ``reusable workflow SAN, called
        by URL`` when a reusable workflow signed for it, ``identity SAN`` for an exact identity.
        """
        workflow = self.workflow_policy()
        if workflow is None or cert.identity is None:
            return f"identity {cert.identity or self.identity or '(none)'}"
        if same_workflow_uri(workflow.repository, workflow.rest, cert.identity):
            return f"release workflow {cert.identity}"
        return f"reusable workflow {cert.identity}, called by {cert.build_config_uri}"


def verify_bundle(
    verifier: Verifier,
    raw: bytes,
    *,
    digest: str,
    identity: BundleIdentity,
    staging: StagingDetector | None = None,
) -> CertificateEvidence:
    """Verify one bundle for the artifact with sha256 ``digest``; raise ``CheckFailure``."""
    from sigstore.errors import VerificationError
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore_models.common.v1 import HashAlgorithm

    try:
        # Parsing hostile material: sigstore, pydantic and cryptography raise many types
        # (InvalidBundle, InvalidEnvelope, ValidationError, DuplicateExtension ...) for it.
        bundle = Bundle.from_json(raw)
        cert = evidence(bundle.signing_certificate)
        is_dsse = bundle._dsse_envelope is not None
    except Exception as exc:
        raise CheckFailure(
            f"not a valid Sigstore bundle: {type(exc).__name__}: {one_line(exc)}"
        ) from None
    policy = identity.policy()
    try:
        if is_dsse:
            payload_type, payload = verifier.verify_dsse(bundle, policy)
            _check_dsse_subject(payload_type, payload, digest)
        else:
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest))
            verifier.verify_artifact(hashed, bundle, policy)
    except VerificationError as exc:
        raise _explain(
            verifier,
            bundle,
            exc,
            digest=digest,
            identity=identity,
            cert=cert,
            staging=staging,
            is_dsse=is_dsse,
        ) from None
    except CheckFailure:
        raise
    except Exception as exc:
        raise CheckFailure(
            f"signature verification failed: {type(exc).__name__}: {one_line(exc)}"
        ) from None
    return cert


def _explain(
    verifier: Verifier,
    bundle: Any,
    exc: Exception,
    *,
    digest: str,
    identity: BundleIdentity,
    cert: CertificateEvidence,
    staging: StagingDetector | None,
    is_dsse: bool,
) -> CheckFailure:
    """Wrong signer, staging signer, or broken signature/other artifact: say which."""
    detail = one_line(exc)
    sha256 = None if is_dsse else digest  # a DSSE bundle carries its own payload
    if signature_sound(verifier, bundle, sha256=sha256):
        got = f"identity {cert.identity}, issuer {cert.issuer}"
        if cert.build_config_uri != cert.identity:  # a reusable workflow signed, or an old cert
            got += f"; build config {cert.build_config_uri or '(none)'}"
        return CheckFailure(
            f"the bundle was signed by someone else ({detail})",
            expected=identity.describe(),
            actual=got,
        )
    if staging is not None and signature_sound(staging.verifier, bundle, sha256=sha256):
        return CheckFailure(
            "signed by Sigstore's *staging* instance, not production",
            expected="a certificate chaining to the production Fulcio root",
            actual="a certificate chaining to the staging Fulcio root",
        )
    issuer = foreign_issuer(verifier, bundle.signing_certificate)
    if issuer is not None:
        return CheckFailure(
            FOREIGN_ROOT,
            expected="a certificate issued by a Fulcio CA of the trust root in use",
            actual=f"issued by {issuer}",
            hint=FOREIGN_ROOT_HINT,
        )
    return CheckFailure(
        f"signature verification failed: {detail}", expected=f"a signature over sha256:{digest}"
    )


def _check_dsse_subject(payload_type: str, payload: bytes, digest: str) -> None:
    if payload_type != "application/vnd.in-toto+json":
        raise CheckFailure(
            "unexpected DSSE payload type", "application/vnd.in-toto+json", payload_type
        )
    try:
        statement = json.loads(payload)
        subjects = statement["subject"]
        digests = [s["digest"].get("sha256") for s in subjects]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise CheckFailure("the bundle's in-toto statement is malformed") from None
    if digest not in digests:
        raise CheckFailure(
            "the bundle's statement is for other bytes",
            f"sha256:{digest}",
            ", ".join(f"sha256:{d}" for d in digests if d) or "(no sha256)",
        )


SIGSTORE_SUFFIXES = (".sigstore.json", ".sigstore", ".sigstore.bundle")
"""Asset names that can only be Sigstore bundles (a bare ``.bundle`` may be a git bundle)."""


def has_sigstore_asset(release: GitHubRelease) -> bool:
    """Whether ``release`` carries any Sigstore bundle, whatever file it is for (the history)."""
    return any(asset.name.endswith(SIGSTORE_SUFFIXES) for asset in release.assets)


def find_bundle(release: GitHubRelease, filename: str) -> str | None:
    """The name of ``filename``'s bundle among the release assets, by preference."""
    for suffix in BUNDLE_SUFFIXES:
        if release.asset(filename + suffix) is not None:
            return filename + suffix
    return None


class BundleChecker:
    """Checks every release file's bundle (and attached copy) on one GitHub Release."""

    def __init__(
        self,
        verifier: Verifier,
        github: GitHubClient,
        cache_root: Path,
        *,
        staging: StagingDetector | None,
    ) -> None:
        self._verifier = verifier
        self._github = github
        self._cache = cache_root
        self._staging = staging

    @staticmethod
    def unavailable(
        files: Sequence[ReleaseFile], message: str, *, missing: bool, hint: str | None = None
    ) -> list[CheckResult]:
        """One result per file when the release (or repository) cannot be used.

        ``missing``: the evidence does not exist (judged by the bundles rule); otherwise it
        could not be read (always unverifiable).
        """
        return [
            CheckResult(
                check=Check.BUNDLE,
                status=Status.ABSENT if missing else Status.UNREACHABLE,
                kind=EvidenceKind.BUNDLES,
                subject=f.filename,
                message=message,
                hint=hint,
                rule=None if missing else "the GitHub API must answer",
            )
            for f in files
        ]

    def check(
        self,
        release: GitHubRelease,
        files: Sequence[ReleaseFile],
        identity: BundleIdentity,
    ) -> list[CheckResult]:
        """Bundle results (and attached-copy results) for every file."""
        findings: list[CheckResult] = []
        if not any(find_bundle(release, f.filename) for f in files):
            names = [a.name for a in release.assets]
            hint = ""
            if any(n.endswith((".sigstore", ".sigstore.json")) for n in names):
                hint = " (bundles are attached, but for other file names)"
            else:
                hint = (
                    " (a common cause: the workflow writes <file>.sigstore.json but uploads "
                    "the glob *.sigstore, or the reverse)"
                )
            return self.unavailable(
                files,
                f"the GitHub release {release.tag} carries no Sigstore bundles" + hint,
                missing=True,
            )
        for file in files:
            findings.extend(self._check_file(release, file, identity))
        return findings

    def _check_file(
        self, release: GitHubRelease, file: ReleaseFile, identity: BundleIdentity
    ) -> list[CheckResult]:
        findings: list[CheckResult] = []
        name = find_bundle(release, file.filename)
        if name is None:
            findings.extend(
                self.unavailable(
                    [file],
                    f"no bundle for this file on the GitHub release {release.tag} "
                    f"(looked for {', '.join(file.filename + s for s in BUNDLE_SUFFIXES)})",
                    missing=True,
                )
            )
        else:
            asset = release.asset(name)
            if file.sha256 is None or asset is None:
                findings.extend(
                    self.unavailable([file], "the index publishes no sha256", missing=False)
                )
            else:
                findings.append(self._verify(asset, file.filename, file.sha256, identity))
        copy = release.asset(file.filename)
        if copy is not None and file.sha256 is not None:
            findings.append(self._attached_copy(copy, file))
        return findings

    def _download(self, asset: Asset, sub: str, *, max_bytes: int) -> tuple[Path, str]:
        """Download into the cache; the asset name is untrusted, so it must be a plain name."""
        from verifier.dists import check_filename

        check_filename(asset.name, where="GitHub release asset name")
        dest = self._cache / "release-assets" / sub / asset.name
        digest = self._github.download_asset(asset, dest, max_bytes=max_bytes)
        return dest, digest

    def _verify(
        self, asset: Asset, filename: str, sha256: str, identity: BundleIdentity
    ) -> CheckResult:
        try:
            path, _ = self._download(asset, "bundles", max_bytes=MAX_BUNDLE_BYTES)
            raw = path.read_bytes()
        except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
            return CheckResult(
                check=Check.BUNDLE,
                status=Status.UNREACHABLE,
                kind=EvidenceKind.BUNDLES,
                subject=filename,
                message=str(exc),
                hint=exc.hint,
            )
        try:
            cert = verify_bundle(
                self._verifier, raw, digest=sha256, identity=identity, staging=self._staging
            )
        except CheckFailure as failure:
            return CheckResult(
                check=Check.BUNDLE,
                status=Status.CONTRADICTED,
                kind=EvidenceKind.BUNDLES,
                subject=filename,
                message=f"{asset.name}: {failure.message}",
                expected=failure.expected,
                actual=failure.actual,
                hint=failure.hint,
            )
        return CheckResult(
            check=Check.BUNDLE,
            status=Status.PROVEN,
            kind=EvidenceKind.BUNDLES,
            subject=filename,
            message=f"{asset.name} verified for {identity.describe()}",
            expected=f"sha256:{sha256}",
            actual=f"sha256:{sha256}",
            certificate=cert,
            certificates=(cert,),
            details={"bundle": asset.name, "digest": sha256},
        )

    def _attached_copy(self, asset: Asset, file: ReleaseFile) -> CheckResult:
        try:
            _, actual = self._download(asset, "files", max_bytes=1024 * 1024 * 1024)
        except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
            return CheckResult(
                check=Check.RELEASE_ASSET,
                status=Status.UNREACHABLE,
                subject=file.filename,
                message=str(exc),
                hint=exc.hint,
            )
        if actual != file.sha256:
            return CheckResult(
                check=Check.RELEASE_ASSET,
                status=Status.CONTRADICTED,
                subject=file.filename,
                message="the copy attached to the GitHub release differs from the index's file",
                expected=f"sha256:{file.sha256}",
                actual=f"sha256:{actual}",
            )
        return CheckResult(
            check=Check.RELEASE_ASSET,
            status=Status.PROVEN,
            subject=file.filename,
            message="the copy attached to the GitHub release equals the index's file",
            expected=f"sha256:{file.sha256}",
            actual=f"sha256:{actual}",
        )


def find_release(github: GitHubClient, repository: str, tags: Sequence[str]) -> GitHubRelease:
    """The GitHub release for the first tag candidate that has one (``NotFoundError`` if none).

    One listing of the repository's releases answers for every candidate (see
    ``GitHubClient.find_release``), instead of one request per tag spelling.
    """
    return github.find_release(repository, tuple(tags))


BundleFailure = CheckFailure
"""The name callers (the ``bundle`` subcommand) know bundle refusals by."""
