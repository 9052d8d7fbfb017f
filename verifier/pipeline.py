"""One pipeline for every subject: a pin, a local file, each package of a lockfile.

Every subject goes through the same sequence, so no flow can leave a check out:

1. **resolve** the subject: its files and digests, where each comes from, and the policy that
   applies to it (``Subject``); whatever resolution itself proves or fails to prove (a lockfile
   pin the index does not publish, a local file's digest) is a typed result;
2. **gather** evidence: index hashes, PEP 740 attestations, release bundles, the signed tag;
3. **link** it: the cross-links relate the evidence;
4. **judge** it: ``verifier.judge`` turns every result into a finding under the subject's
   policy, naming each rule and where it came from.

Checks return ``CheckResult``s and never choose an outcome. ``LockfileRun`` adds concurrency
and nothing else.
"""

from __future__ import annotations

import copy
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Executor, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlsplit

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from verifier import children
from verifier.certificates import GITHUB_ACTIONS_ISSUER
from verifier.checks.attestations import AttestationChecker
from verifier.checks.bundles import (
    BundleChecker,
    BundleIdentity,
    find_release,
    has_sigstore_asset,
)
from verifier.checks.hashes import (
    FileCache,
    check_local,
    download_into,
    published_digest,
    sha256_file,
)
from verifier.checks.history import (
    Earlier,
    SourceBaseline,
    check_history,
    compare_sources,
    earlier_releases,
    explicit_source,
)
from verifier.checks.tags import check_tag, forge_trust, missing_tag, tag_candidates, user_trust
from verifier.dists import dist_version, same_distribution
from verifier.errors import (
    NetworkError,
    NotFoundError,
    PolicyError,
    RefusedURL,
    UpstreamError,
    UsageError,
    VerifierError,
)
from verifier.github import GitHubClient, git_base_url
from verifier.judge import judge_all
from verifier.links import link_evidence
from verifier.lockfiles import Lockfile, PinnedFile, PinnedPackage
from verifier.models import (
    Check,
    CheckResult,
    EvidenceKind,
    Gap,
    Release,
    ReleaseFile,
    ReleaseReport,
    Status,
)
from verifier.policy import (
    ExpectedPublisher,
    Policy,
    PolicyFile,
    parse_repository_url,
    publisher_from_project_urls,
)
from verifier.pypi import IndexClient, normalize_index_url
from verifier.verdicts import VerdictCache

if TYPE_CHECKING:  # git is imported by the one step that reads tags (``Pipeline._tag``)
    from verifier.git import GitRepo, TagSignature

MAX_LOCAL_PROVENANCE_BYTES = 2 * 1024 * 1024

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


@dataclass(frozen=True)
class SourceOptions:
    """Where the bundle and tag evidence comes from, and whom it must name."""

    github: GitHubClient | None = None
    bundle_checker: BundleChecker | None = None
    cert_identity: str | None = None
    cert_oidc_issuer: str = GITHUB_ACTIONS_ISSUER
    git_repo: Path | None = None
    tag_template: str | None = None
    allowed_signers: Path | None = None
    gpg_keyring: Path | None = None
    gnupghome: str | None = None
    workdir: Path | None = None
    offline_git: bool = False
    """Evidence mode: use clones already in the evidence directory, never fetch."""


@dataclass(frozen=True)
class IdentityChoice:
    """The expected publisher for one release and where it came from."""

    expected: ExpectedPublisher | None
    source: str


@dataclass(frozen=True)
class LocalFile:
    """A distribution on disk, named on the command line."""

    path: Path
    sha256: str
    provenance: Path | None


@dataclass
class Subject:
    """One thing to verify, resolved: its files, where they come from, and its policy."""

    label: str
    name: NormalizedName
    version: str
    policy: Policy
    files: tuple[ReleaseFile, ...] = ()
    """The files whose attestations, bundles and tag are gathered."""
    release: Release | None = None
    location: str | None = None
    local: LocalFile | None = None
    download: bool = False
    """``--download DIR``: fetch, re-hash and keep each file; else compare digests only."""
    identity_from_index: bool = True
    results: list[CheckResult] = field(default_factory=list)
    """What resolution itself proved or could not prove."""
    gather: bool = True
    """False when resolution already showed there is nothing to gather evidence for."""
    audit: PinnedPackage | None = None
    """The package to audit for known vulnerabilities (its pinned files), if any."""
    listed: Release | None = None
    """The release as the index lists it (every file, and the project's other releases): the
    history the subject is held to. None when the index was not consulted."""


class Pipeline:
    """Resolves subjects, gathers their evidence, links and judges it."""

    def __init__(
        self,
        *,
        index: IndexClient,
        cache: FileCache,
        attestations: AttestationChecker,
        policy: Policy,
        progress: Progress = _quiet,
        sources: SourceOptions | None = None,
        policy_file: PolicyFile | None = None,
        allow_unindexed: Mapping[NormalizedName, str] | None = None,
        download_dir: Path | None = None,
        verdicts: VerdictCache | None = None,
    ) -> None:
        self.download_dir = download_dir
        """``--download DIR``: where verified files are kept; None: no file is downloaded."""
        self.verdicts = verdicts
        """Earlier provenance verdicts to reuse when every input is identical (None: off)."""
        self.sources = sources or SourceOptions()
        self.identity_from_index = True
        self.index = index
        self.cache = cache
        self.attestations = attestations
        self.policy = policy
        self.policy_file = policy_file
        self.allow_unindexed = dict(allow_unindexed or {})
        self.progress = progress
        self.warnings: list[str] = []
        self.file_pool: Executor | None = None
        """Threads for the per-file requests of every subject (set by whoever runs them; the
        package threads only wait on it, so the two pools cannot deadlock)."""

    def with_attestations(self, attestations: AttestationChecker) -> Pipeline:
        """The same collaborators with another attestation checker (worker processes)."""
        other = copy.copy(self)
        other.attestations = attestations
        return other

    def policy_for(
        self, name: NormalizedName, identities: tuple[dict[str, str], ...] = ()
    ) -> Policy:
        """The policy for one package: flags, the policy file, the lockfile's identities."""
        return self.policy.for_package(
            name, self.policy_file, identities, allow_unindexed=self.allow_unindexed
        )

    # -- 1. resolve ------------------------------------------------------------------------------

    def resolve_pin(self, name: NormalizedName, spec: SpecifierSet) -> Subject:
        """``NAME==VERSION``: every file pip could install for it, with its published digest.

        Files are downloaded and re-hashed only with ``--download DIR``.

        Files of the release the tool cannot verify (legacy or unparseable names) are results
        of their own, never left out silently.
        """
        from verifier.dists import unsupported_reason
        from verifier.lockfiles import Location, PinnedFile

        label = f"{name}{spec}"
        version = next(iter(spec)).version
        subject = Subject(
            label, name, version, self.policy_for(name), download=self.download_dir is not None
        )
        self.progress(f"{label}: reading the index")
        try:
            release = self.index.release(name, spec)
        except NotFoundError as exc:
            raise UsageError(exc.message, hint=exc.hint) from None
        except (NetworkError, UpstreamError) as exc:
            subject.results.append(
                _unreachable(Check.INDEX_HASH, label, exc, "the index must answer")
            )
            subject.gather = False
            # The audit needs only the name and version: it still runs, by name.
            subject.audit = PinnedPackage(
                name=name, version=version, files=(), location=Location(label)
            )
            return subject
        subject.release = release
        subject.listed = release
        subject.version = release.version
        subject.files = release.files
        subject.gather = bool(release.files)
        if not subject.download:
            # The digests the evidence names are compared by the cross-links; no byte is fetched.
            subject.results += [published_digest(f) for f in release.files]
        subject.results += [
            CheckResult(
                check=Check.INDEX_HASH,
                status=Status.UNPROVEN,
                kind=Gap.UNSUPPORTED_FILE,
                subject=unparsed,
                message=unsupported_reason(unparsed, name)
                or "a file of this release that verify-release cannot verify",
            )
            for unparsed in release.unparsed
        ]
        self._warn_yanked(label, release)
        pins = tuple(
            PinnedFile(sha256=f.sha256, filename=f.filename) for f in release.files if f.sha256
        )
        subject.audit = PinnedPackage(
            name=name, version=release.version, files=pins, location=Location(label)
        )
        return subject

    def resolve_local(self, path: Path, *, provenance: Path | None, offline: bool) -> Subject:
        """A distribution on disk: its digest against the index, evidence as for a pin."""
        from verifier.lockfiles import Location, PinnedFile

        parsed = dist_version(path.name)
        if parsed is None:
            raise UsageError(
                f"{path.name!r} is not a wheel or sdist file name",
                hint="pass a .whl, .tar.gz or .zip distribution, or NAME==VERSION",
            )
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        if offline and provenance is None:
            raise UsageError(
                "--offline with a local file needs --provenance FILE",
                hint="download the provenance first, or drop --offline",
            )
        name, version = parsed
        digest = sha256_file(path)
        local = LocalFile(path=path, sha256=digest, provenance=provenance)
        policy = self.policy_for(name)
        subject = Subject(path.name, name, str(version), policy, local=local)
        own = ReleaseFile(filename=path.name, url=path.resolve().as_uri(), sha256=digest)
        subject.files = (own,)
        subject.release = Release(name=name, version=str(version), files=(own,))
        subject.audit = PinnedPackage(
            name=name,
            version=str(version),
            files=(PinnedFile(sha256=digest, filename=path.name),),
            location=Location(str(path)),
        )
        if offline:
            subject.identity_from_index = False
            subject.results.append(
                CheckResult(
                    check=Check.INDEX_HASH,
                    status=Status.NOT_CHECKED,
                    kind=None,
                    subject=path.name,
                    message="--offline: the index was not consulted",
                    actual=f"sha256:{digest}",
                )
            )
            return subject
        self.progress(f"{path.name}: reading the index")
        try:
            release = self.index.release(name, version)
        except (NetworkError, UpstreamError) as exc:
            subject.results.append(
                replace(
                    _unreachable(
                        Check.INDEX_HASH, path.name, exc, "index hashes are always required"
                    ),
                    actual=f"sha256:{digest}",
                )
            )
            return subject
        match = next((f for f in release.files if f.filename == path.name), None)
        subject.results.append(check_local(path, match, digest))
        subject.version = release.version
        subject.listed = release
        subject.release = Release(
            name=name, version=release.version, files=(own,), project_urls=release.project_urls
        )
        return subject

    def resolve_package(self, pkg: PinnedPackage) -> Subject:
        """One lockfile package: its pinned hashes against the index, digests only."""
        label = f"{pkg.name}=={pkg.version}" if pkg.version else f"{pkg.name} ({pkg.source})"
        where = str(pkg.location)
        policy = self.policy_for(pkg.name, pkg.attestation_identities)
        subject = Subject(label, pkg.name, pkg.version, policy, location=where)
        if pkg.skip_reason is not None or pkg.source != "index":
            subject.results.append(
                CheckResult(
                    check=Check.LOCKFILE,
                    status=Status.ABSENT,
                    kind=Gap.UNINDEXED,
                    subject=label,
                    message=pkg.skip_reason or f"a {pkg.source} package is not from an index",
                )
            )
            subject.gather = False
            return subject
        origin = self._foreign_origin(pkg)
        if origin is not None:
            subject.results.append(origin)
            subject.gather = False
            return subject
        subject.audit = pkg
        try:
            release = self.index.release(pkg.name, Version(pkg.version))
        except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
            subject.results.append(
                _unreachable(Check.LOCKFILE, label, exc, "the index must list every pinned release")
            )
            subject.gather = False
            return subject
        subject.release = release
        subject.listed = release
        subject.version = release.version
        subject.results.extend(self._pinned_hashes(label, pkg, release))
        matched = tuple(
            dict.fromkeys(
                f
                for pin in pkg.files
                for f in release.files
                if pin.sha256 is not None
                and f.sha256 == pin.sha256
                and (not pin.filename or same_distribution(pin.filename, f.filename))
            )
        )
        subject.files = matched
        subject.gather = bool(matched)
        subject.download = self.download_dir is not None
        return subject

    def _foreign_origin(self, pkg: PinnedPackage) -> CheckResult | None:
        """A lockfile that installs this package from elsewhere than the run's index.

        The lockfile's own index lines are honoured by installers; comparing its pins with
        another index would prove nothing about what gets installed, so such a package is
        refused (UNVERIFIABLE, naming the origin) rather than silently compared.
        """
        from verifier.http import redact_url

        ours = self.index.base_url
        label = f"{pkg.name}=={pkg.version}"
        others: list[str] = []
        if pkg.index_url and _index_root(pkg.index_url) != ours:
            others.append(f"index {redact_url(pkg.index_url)}")
        others += [
            f"extra index {redact_url(u)}" for u in pkg.extra_index_urls if _index_root(u) != ours
        ]
        others += [f"find-links {redact_url(u)}" for u in pkg.find_links]
        if pkg.no_index:
            others.append("--no-index (local files only)")
        if not others:
            return None
        return CheckResult(
            check=Check.LOCKFILE,
            status=Status.UNPROVEN,
            kind=Gap.ORIGIN,
            subject=label,
            message=f"the lockfile installs this package from {', '.join(others)}, not from "
            f"{redact_url(ours)}, the index verify-release compares with",
            expected=redact_url(ours),
            actual=", ".join(others),
            hint="pass --index-url with the lockfile's index to verify against it",
        )

    def _pinned_hashes(self, label: str, pkg: PinnedPackage, release: Release) -> list[CheckResult]:
        """Every hash the lockfile names, against what the index publishes.

        A hash that cannot be compared (another algorithm than sha256) leaves the package
        unproven: an installer accepts a file matching *any* pinned hash, so an unchecked one
        could admit another file.
        """
        published = {f.sha256: f for f in release.files if f.sha256}
        results: list[CheckResult] = []
        if not pkg.files:
            return [_unhashed(label, "the lockfile pins no hash for this package")]
        for pin in pkg.files:
            results.extend(self._pinned_file(label, pin, published))
        if not results:
            count = len(pkg.files)
            what = "the pinned hash is" if count == 1 else f"all {count} pinned hashes are"
            results.append(
                CheckResult(
                    check=Check.LOCKFILE,
                    status=Status.PROVEN,
                    subject=label,
                    message=f"{what} published by the index "
                    "(files not downloaded: installers enforce the pins)",
                )
            )
        return results

    def _pinned_file(
        self, label: str, pin: PinnedFile, published: Mapping[str, ReleaseFile]
    ) -> list[CheckResult]:
        named = f" for {pin.filename}" if pin.filename else ""
        out: list[CheckResult] = []
        if not pin.hashes:
            return [
                _unhashed(
                    label,
                    f"the lockfile pins a file{named} with no hash",
                    expected="a sha256 hash for every pinned file",
                )
            ]
        if pin.sha256 is not None:
            match = published.get(pin.sha256)
            if match is None:
                out.append(
                    CheckResult(
                        check=Check.LOCKFILE,
                        status=Status.CONTRADICTED,
                        subject=label,
                        message=f"pinned hash{named} is not one the index publishes for {label}",
                        expected=f"one of the {len(published)} digests the index publishes",
                        actual=f"sha256:{pin.sha256}",
                    )
                )
            elif pin.filename and not same_distribution(pin.filename, match.filename):
                out.append(
                    CheckResult(
                        check=Check.LOCKFILE,
                        status=Status.CONTRADICTED,
                        subject=label,
                        message="the pinned hash belongs to another file on the index",
                        expected=pin.filename,
                        actual=match.filename,
                    )
                )
            elif pin.url and _host(pin.url) not in (None, _host(match.url)):
                self.warnings.append(
                    f"{label}: {pin.filename or match.filename} is pinned from "
                    f"{_host(pin.url)}, not from the index's file host {_host(match.url)}; "
                    "its sha256 equals the index's"
                )
        for algorithm, digest in pin.hashes.items():
            if algorithm == "sha256":
                continue
            out.append(
                CheckResult(
                    check=Check.LOCKFILE,
                    status=Status.UNPROVEN,
                    kind=Gap.HASH_PIN,
                    subject=label,
                    message=f"the lockfile pins {algorithm}:{digest[:16]}…{named}, which cannot "
                    "be compared with the index (it publishes sha256); an installer would accept "
                    "a file matching it",
                    expected="sha256 hashes only",
                    actual=f"{algorithm}:{digest}",
                    hint="regenerate the lockfile with sha256 hashes (pip-compile "
                    "--generate-hashes, uv export, uv lock)",
                )
            )
        return out

    # -- 2. gather, 3. link, 4. judge --------------------------------------------------------------

    def verify(self, subject: Subject) -> ReleaseReport:
        """Gather, link and judge one resolved subject."""
        results = list(subject.results)
        identity = IdentityChoice(None, "")
        policy = subject.policy
        if subject.gather and subject.release is not None:
            identity = self.choose_identity(subject)
            not_published: dict[str, str] = {}
            results.extend(self._gather(subject, identity, not_published))
            if not_published:
                policy = replace(policy, not_published=not_published)
        findings = judge_all(results, policy)
        if subject.location:
            findings = [replace(f, location=f.location or subject.location) for f in findings]
        return ReleaseReport(
            label=subject.label,
            files=subject.files,
            findings=tuple(findings),
            identity_source=identity.source or None,
            expected_identity=identity.expected.as_dict() if identity.expected else {},
            name=subject.name,
            version=subject.version or None,
        )

    def choose_identity(self, subject: Subject) -> IdentityChoice:
        """The user's or a pin's publisher; else the index's project URLs; else PyPI's record.

        A local file handed over with its provenance never supplies its own publisher.
        """
        policy = subject.policy
        if policy.expected is not None:
            source = policy.expected.source
            flags = "--repository" if policy.expected.forge else "publisher flags"
            label = {"command line": f"command line ({flags})"}.get(source, source)
            if policy.pinned:
                label += " (pinned: a change of publisher fails)"
            return IdentityChoice(policy.expected, label)
        if self.identity_from_index and subject.identity_from_index:
            try:
                urls = self.index.project_urls(subject.name, subject.version)
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
        if subject.local is not None and subject.local.provenance is not None:
            return IdentityChoice(
                None,
                "none: the provenance file travels with the artifact, so it cannot say who "
                "should have signed (pin the publisher with --repository, "
                "--google-service-account or --circleci-project)",
            )
        return IdentityChoice(
            None,
            "PyPI's publisher record in each provenance (weakest: the index's own claim; pin "
            "the publisher with --repository, --google-service-account or --circleci-project)",
        )

    def _gather(
        self, subject: Subject, identity: IdentityChoice, not_published: dict[str, str]
    ) -> list[CheckResult]:
        """Every piece of evidence for ``subject``; fills ``not_published`` from the history."""
        assert subject.release is not None  # noqa: S101 - checked by the caller
        results: list[CheckResult] = []
        total = len(subject.files)
        for number, file in enumerate(subject.files, start=1):
            if subject.download and self.download_dir is not None:
                label = f"{subject.label}: [{number}/{total}]"

                def say(line: str, label: str = label) -> None:
                    self.progress(f"{label} {line}")

                results.append(download_into(self.index.http, self.download_dir, file, say))
        attestations = self._attestations(subject, identity.expected)
        results.extend(attestations)
        history = self._history(subject, attestations)
        results.extend(history)
        release = replace(subject.release, files=subject.files)
        # The index digests a pin's resolution published are one end of each digest link.
        linked = [*subject.results, *results]
        unpublished: dict[str, str] = {}
        results.extend(
            self._signed_sources(subject, release, identity.expected, linked, unpublished)
        )
        # "Not published by this project" speaks for the project only when the forge that was
        # read is the project's: a publisher the user (or a pin) named, or one the history
        # confirms. A repository learned from the artifact under test alone proves nothing.
        if subject.policy.expected is not None or any(
            r.check is Check.HISTORY and r.status is Status.PROVEN for r in history
        ):
            not_published.update(unpublished)
        return results

    def _attestations(
        self, subject: Subject, expected: ExpectedPublisher | None
    ) -> list[CheckResult]:
        """Every file's attestation result, in file order.

        Each file's provenance is fetched and handed over for verification before any verdict
        is waited for, so a release's files are verified side by side without a thread per
        file waiting. A release of more than ``SERIAL_FILES`` files has its requests made by
        the ``file_pool`` too, so a package of 100 wheels is not a 100-request serial chain
        while other threads idle: the run's requests share one bounded pool across files, not
        only across packages. Its threads never wait for a verdict, only the caller does.
        """
        total = len(subject.files)

        def start(numbered: tuple[int, ReleaseFile]) -> _Started:
            number, file = numbered
            self.progress(f"{subject.label}: [{number}/{total}] {file.filename}: provenance")
            return self._attestation(subject, file, expected)

        numbered = list(enumerate(subject.files, start=1))
        if self.file_pool is None or total <= SERIAL_FILES:
            started = [start(item) for item in numbered]
        else:
            # The calling thread takes the first file itself while the pool takes the others:
            # as many files in flight, one hand-over between threads fewer per subject.
            rest = [self.file_pool.submit(start, item) for item in numbered[1:]]
            try:
                first = start(numbered[0])
            except BaseException:
                for future in rest:
                    future.cancel()
                raise
            started = [first, *(future.result() for future in rest)]
        return [item if isinstance(item, CheckResult) else item() for item in started]

    def _history(self, subject: Subject, attestations: list[CheckResult]) -> list[CheckResult]:
        """The subject against its project's history (``verifier.checks.history``).

        At most one extra request: the baseline release's attested file's provenance, fetched
        with the index client (cached as immutable) and verified against its own publisher
        record, only to name that publisher.
        """
        listed = subject.listed
        if listed is None:
            return []  # the index was not consulted: there is no history to compare with
        policy = subject.policy
        expected = policy.expected

        def fetch(file: ReleaseFile) -> bytes:
            assert file.provenance is not None  # noqa: S101 - only attested files are asked
            self.progress(f"{subject.label}: provenance of {file.filename} (the baseline)")
            return self.index.provenance_at(file.provenance, file.filename)

        def verify(raw: bytes, file: ReleaseFile, digest: str) -> CheckResult:
            return self._check_provenance(
                raw, filename=file.filename, digest=digest, expected=None, policy=policy
            )

        return check_history(
            listed,
            subject.files,
            attestations,
            fetch=fetch,
            verify=verify,
            explicit=explicit_source(
                expected.source if expected is not None else None, policy.pin_source
            ),
        )

    def _attestation(
        self, subject: Subject, file: ReleaseFile, expected: ExpectedPublisher | None
    ) -> _Started:
        """One file's attestation result, or (verifying elsewhere) the call that waits for it."""
        if file.sha256 is None:
            return CheckResult(
                check=Check.ATTESTATION,
                status=Status.ABSENT,
                kind=Gap.INDEX_DIGEST,
                subject=file.filename,
                message="the index publishes no sha256 to compare the attestation with",
            )
        local = subject.local
        if local is not None and local.provenance is not None:
            return self.attestations.check_attestation_file(
                _read_capped(local.provenance),
                filename=file.filename,
                digest=file.sha256,
                expected=expected,
            )
        if file.provenance_declared and file.provenance is None:
            # PEP 740's simple API 1.3 says so per file: nothing to ask the Integrity API.
            return AttestationChecker.missing(file.filename, "the index declares no provenance")
        try:
            if file.provenance is not None:
                raw = self.index.provenance_at(file.provenance, file.filename)
            elif file.version is not None:
                raw = self.index.provenance_for(file, subject.name)
            else:
                raw = self.index.provenance(subject.name, subject.version, file.filename)
        except NotFoundError as exc:
            if file.provenance is not None:
                # The index declared provenance it then does not serve: evidence that exists
                # could not be read, which is never the same as "none".
                return _unreachable(
                    Check.ATTESTATION, file.filename, exc, None, EvidenceKind.ATTESTATIONS
                )
            return AttestationChecker.missing(
                file.filename, "the index has no provenance for this file (HTTP 404)"
            )
        except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
            return _unreachable(
                Check.ATTESTATION, file.filename, exc, None, EvidenceKind.ATTESTATIONS
            )
        return self._start_provenance(
            raw,
            filename=file.filename,
            digest=file.sha256,
            expected=expected,
            policy=subject.policy,
        )

    def _check_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        policy: Policy,
    ) -> CheckResult:
        """``_start_provenance``, and its result."""
        started = self._start_provenance(
            raw, filename=filename, digest=digest, expected=expected, policy=policy
        )
        return started if isinstance(started, CheckResult) else started()

    def _start_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        policy: Policy,
    ) -> _Started:
        """Verify index provenance, or reuse the verdict of an identical earlier verification.

        Everything the result depends on is in the key (``verifier.verdicts``); a missing,
        damaged or forged entry is a miss, and the provenance is verified again. A verification
        under way elsewhere comes back as the call that waits for it (and keeps its verdict).
        """
        cache = self.verdicts
        key = None
        if cache is not None:
            key = cache.key(
                raw,
                filename=filename,
                digest=digest,
                expected=expected,
                record_trusted=True,
                policy=policy,
            )
            earlier = cache.get(key) if key is not None else None
            if earlier is not None:
                return earlier
        finish = self.attestations.start_provenance(
            raw, filename=filename, digest=digest, expected=expected
        )
        if cache is None or key is None:
            return finish

        def kept() -> CheckResult:
            result = finish()
            cache.put(key, result)
            return result

        return kept

    # -- bundles, tags and the links between all evidence -------------------------------------

    def _github_repository(
        self, expected: ExpectedPublisher | None, results: list[CheckResult]
    ) -> str | None:
        """OWNER/REPO on GitHub: the user's pin, else what the verified attestations name."""
        if expected is not None:
            return expected.repository if expected.kind == "GitHub" else None
        for result in results:
            cert = result.certificate
            if result.status is not Status.PROVEN or cert is None or not cert.repository:
                continue
            try:
                learned = parse_repository_url(cert.repository, source="attestation certificate")
            except PolicyError:
                continue  # not a GitHub/GitLab URL (or a hostile one): learn nothing from it
            if learned.kind == "GitHub":
                return learned.repository
        return None

    def _signed_sources(
        self,
        subject: Subject,
        release: Release,
        expected: ExpectedPublisher | None,
        results: list[CheckResult],
        not_published: dict[str, str],
    ) -> list[CheckResult]:
        opts = self.sources
        policy = subject.policy
        out: list[CheckResult] = []
        if opts.bundle_checker is None or opts.github is None or opts.workdir is None:
            return [
                _not_checked(k, "no GitHub client")
                for k in (EvidenceKind.BUNDLES, EvidenceKind.TAGS)
            ]
        slug = self._github_repository(expected, results)
        tags = tag_candidates(release.version, opts.tag_template)
        checker = opts.bundle_checker
        gh_release = None
        if "bundles" in policy.skip:
            out.append(_not_checked(EvidenceKind.BUNDLES, "bundles not checked"))
        elif slug is None:
            out += checker.unavailable(
                release.files,
                "no GitHub repository is known for this release (pass "
                "--repository https://github.com/OWNER/REPO)",
                missing=True,
            )
        else:
            self.progress(f"{release.label}: GitHub release and bundles of {slug}")
            try:
                gh_release = find_release(opts.github, slug, tags)
            except NotFoundError as exc:
                out += checker.unavailable(release.files, exc.message, missing=True, hint=exc.hint)
            except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
                out += checker.unavailable(release.files, str(exc), missing=False, hint=exc.hint)
        if gh_release is not None and slug is not None:
            ref = f"refs/tags/{gh_release.tag}"
            workflow = (expected.workflow if expected else None) or _pep740_workflow(results)
            ident = opts.cert_identity or (
                f"https://github.com/{slug}/.github/workflows/{workflow}@{ref}"
                if workflow
                else None
            )
            bundle_identity = BundleIdentity(
                identity=ident,
                issuer=opts.cert_oidc_issuer,
                repository=slug,
                ref=ref,
                exact_identity=opts.cert_identity is not None,
            )
            out += checker.check(gh_release, release.files, bundle_identity)
        earlier = earlier_releases(subject.listed) if subject.listed is not None else None
        bundles = [r for r in out if r.check is Check.BUNDLE]
        if (
            earlier is not None
            and slug is not None
            and bundles
            and all(r.status is Status.ABSENT for r in bundles)
            # Bundles on this release (for other files or artifacts) are not "none": the rule
            # for a missing bundle applies, not the history's.
            and not (gh_release is not None and has_sigstore_asset(gh_release))
        ):
            out += self._compare(self._bundle_baseline(slug, earlier), release, not_published)
        answer: TagSignature | None = None
        if "tags" in policy.skip:
            out.append(_not_checked(EvidenceKind.TAGS, "tags not checked"))
        else:
            tag_result, answer, repo = self._tag(release, slug, tags)
            out.append(tag_result)
            if earlier is not None and repo is not None and tag_result.status is Status.ABSENT:
                out += self._compare(
                    self._tag_baseline(repo, earlier, release.label), release, not_published
                )
        if not {"bundles", "tags"} <= policy.skip:
            out += link_evidence([*results, *out], expected=expected, tag=answer)
        return out

    def _tag(
        self, release: Release, slug: str | None, tags: list[str]
    ) -> tuple[CheckResult, TagSignature | None, GitRepo | None]:
        """The tag result, git's answer, and the repository whose tags show the history.

        The repository is None when its tag list is not the project's whole list (the
        evidence directory holds only the tags recorded) or the tag was not examined (no
        trusted keys): the history cannot then say "never signed".
        """
        from verifier.git import GitRepo

        opts = self.sources
        history: GitRepo | None = None
        assert opts.workdir is not None  # noqa: S101 - checked by the caller
        try:
            if opts.git_repo is not None:
                repo = GitRepo(opts.git_repo)
                repo.check()
                history = repo
            elif slug is not None:
                self.progress(f"{release.label}: fetching the release tag from {slug}")
                base = git_base_url(opts.github.api_url) if opts.github else "https://github.com"
                dest = self.cache.root / "repos" / _safe_dir(base) / slug
                if opts.offline_git:
                    if not (dest / "HEAD").exists():
                        return (
                            missing_tag(
                                release.label,
                                "the repository's tags are not in the evidence directory",
                            ),
                            None,
                            None,
                        )
                    repo = GitRepo(dest)
                    if not repo.holds_only_own_config():
                        raise UpstreamError(
                            "the evidence directory's repository holds configuration or "
                            "borrowed objects verify-release does not write; not used",
                            hint="record the evidence again with `verify-release fetch`",
                        )
                else:
                    repo = GitRepo.fetch_tag(f"{base}/{slug}.git", dest, tags)
                    history = repo
            else:
                return (
                    missing_tag(
                        release.label,
                        "no repository to read tags from (pass --git-repo PATH or "
                        "--repository URL)",
                    ),
                    None,
                    None,
                )
            trust = user_trust(opts.allowed_signers, opts.gpg_keyring, opts.gnupghome, opts.workdir)
            if trust is None:
                owner = (slug or "").split("/")[0]
                if not owner or opts.github is None:
                    return (
                        missing_tag(
                            release.label,
                            "no trusted keys: pass --allowed-signers or --gpg-keyring",
                        ),
                        None,
                        None,
                    )
                trust = forge_trust(
                    opts.github.ssh_signing_keys(owner),
                    opts.github.gpg_keys(owner),
                    owner,
                    opts.workdir,
                )
        except VerifierError as exc:
            # Includes a missing git or gpg: the tag cannot be checked, the rest of the run can.
            return (
                _unreachable(Check.TAG, release.label, exc, None, EvidenceKind.TAGS),
                None,
                None,
            )
        result, answer = check_tag(repo, tags, trust, release.label)
        return result, answer, history

    # -- what the previous release carried on the forge ---------------------------------------

    def _compare(
        self, baseline: SourceBaseline | None, release: Release, not_published: dict[str, str]
    ) -> list[CheckResult]:
        """A downgrade against ``baseline``, or the history's "not published" rule."""
        if baseline is None:
            return []  # the previous release's evidence is unknown: the default rule stands
        lost, source = compare_sources(baseline, release.label, release.version)
        if source is not None:
            not_published[baseline.kind.value] = source
        return [lost] if lost is not None else []

    def _bundle_baseline(self, slug: str, earlier: list[Earlier]) -> SourceBaseline | None:
        """What the project's GitHub Releases show about bundles, for a release that has none.

        Read from the release listing already fetched for this repository (no request of its
        own). Carried: ANY GitHub Release of an earlier upload has a Sigstore bundle attached
        (the newest such, in GitHub's order, is named). Not "the previous one" only: a stolen
        index token can upload the version of any existing release (an old one, a stray
        pre-release) and so choose which release would be "previous"; an upload to the index
        alone has no GitHub Release and counts for nothing.

        "None published" only from the whole listing (one page) in which no release at all
        carries a Sigstore asset, whatever its name: a project that attaches bundles under
        names no version matches is unknown (None), never "none".
        """
        github = self.sources.github
        if github is None:
            return None
        try:
            listing = github.releases(slug)
        except VerifierError:
            return None
        by_tag: dict[str, Earlier] = {}
        for release in earlier:
            for tag in tag_candidates(release.version, self.sources.tag_template):
                by_tag.setdefault(tag, release)
        matched = [(r, by_tag[r.tag]) for r in listing.releases if r.tag in by_tag]
        for found, release in matched:
            if has_sigstore_asset(found):
                return SourceBaseline(
                    EvidenceKind.BUNDLES, release, True, f"GitHub release {found.tag}"
                )
        if not listing.complete or any(has_sigstore_asset(r) for r in listing.releases):
            return None
        if matched:
            found, release = matched[0]
            return SourceBaseline(
                EvidenceKind.BUNDLES, release, False, f"GitHub release {found.tag}"
            )
        return SourceBaseline(EvidenceKind.BUNDLES, None, False, "")

    def _tag_baseline(
        self, repo: GitRepo, earlier: list[Earlier], label: str
    ) -> SourceBaseline | None:
        """What the repository's tags show about signatures, for a release with no signed tag.

        Carried: ANY earlier upload's tag is signed (the newest such, by its own date, is
        named): a stolen index token can upload the version of any existing tag (an old one, a
        stray release candidate) and so choose which tag would be "previous"; a version with
        no tag counts for nothing. Whether a tag *is signed* is compared, not whose key signed.

        "None published" only when no tag of the repository is signed: the remote's whole tag
        list (up to ``ALL_TAGS_LIMIT`` tags) is fetched in the same single fetch, so signed tags
        under names no version matches make the history unknown (None), never "none". With
        more tags, or a local ``--git-repo`` (a checkout may hold only some tags), only a loss
        can be shown. Tags are fetched (tag objects and commits only) into a fresh repository,
        never read from the cache, and read with one ``git for-each-ref``.
        """
        names = repo.tag_names()
        tagged: list[tuple[Earlier, str]] = []
        for release in earlier:
            tag = next(
                (
                    t
                    for t in tag_candidates(release.version, self.sources.tag_template)
                    if t in names
                ),
                None,
            )
            if tag is not None:
                tagged.append((release, tag))
        whole = repo.advertised is not None and len(names) <= ALL_TAGS_LIMIT
        wanted = sorted(names) if whole else sorted({tag for _, tag in tagged})
        if not wanted:
            # A remote with no tag at all: the project does not tag. A checkout: unknown.
            return SourceBaseline(EvidenceKind.TAGS, None, False, "") if whole else None
        self.progress(f"{label}: the repository's tags ({len(wanted)}), for the history")
        workdir = self.sources.workdir
        assert workdir is not None  # noqa: S101 - the tag check ran
        try:
            reader = repo.fetch_others(wanted, Path(tempfile.mkdtemp(prefix="tags-", dir=workdir)))
            facts = reader.tag_facts()
        except VerifierError:
            return None
        if any(tag not in facts or facts[tag][0] is None for _, tag in tagged):
            return None  # an earlier tag that cannot be read or dated
        signed = [
            (facts[tag][0] or 0, release.uploaded, release, tag)
            for release, tag in tagged
            if facts[tag][1]
        ]
        if signed:
            _, _, release, tag = max(signed, key=lambda d: (d[0], d[1]))
            return SourceBaseline(EvidenceKind.TAGS, release, True, f"tag {tag}")
        if not whole or any(facts.get(name, (None, True))[1] for name in wanted):
            return None
        if tagged:
            _, _, release, tag = max(
                ((facts[t][0] or 0, r.uploaded, r, t) for r, t in tagged),
                key=lambda d: (d[0], d[1]),
            )
            return SourceBaseline(EvidenceKind.TAGS, release, False, f"tag {tag}")
        return SourceBaseline(EvidenceKind.TAGS, None, False, "")

    def _warn_yanked(self, label: str, release: Release) -> None:
        yanked = [f.filename for f in release.files if f.yanked]
        if yanked:
            self.warnings.append(
                f"{label}: the index marks {', '.join(yanked)} as yanked; installers skip "
                "yanked files unless pinned exactly"
            )


ALL_TAGS_LIMIT = 200
"""Up to this many tags, the history fetches every tag of the repository (one fetch) to say
"no tag is signed"; above it, only a loss can be shown."""


def _unreachable(
    check: Check,
    subject: str,
    exc: VerifierError,
    rule: str | None,
    kind: EvidenceKind | None = None,
) -> CheckResult:
    return CheckResult(
        check=check,
        status=Status.UNREACHABLE,
        kind=kind,
        subject=subject,
        message=str(exc),
        hint=exc.hint,
        rule=rule,
    )


def _unhashed(label: str, message: str, *, expected: str | None = None) -> CheckResult:
    """A lockfile entry with nothing to compare with the index: a gap no flag tolerates."""
    return CheckResult(
        check=Check.LOCKFILE,
        status=Status.ABSENT,
        kind=Gap.HASH_PIN,
        subject=label,
        message=message,
        expected=expected,
    )


def _not_checked(kind: EvidenceKind, message: str) -> CheckResult:
    check = Check.BUNDLE if kind is EvidenceKind.BUNDLES else Check.TAG
    return CheckResult(
        check=check, status=Status.NOT_CHECKED, kind=kind, subject="(all files)", message=message
    )


def _pep740_workflow(results: list[CheckResult]) -> str | None:
    """The workflow file name the verified PEP 740 certificates name."""
    for result in results:
        cert = result.certificate
        uri = cert.build_config_uri if cert is not None else None
        if (
            result.check is Check.ATTESTATION
            and result.status is Status.PROVEN
            and uri
            and "/.github/workflows/" in uri
        ):
            return uri.split("/.github/workflows/", 1)[1].split("@", 1)[0]
    return None


def _index_root(url: str) -> str | None:
    try:
        return normalize_index_url(url)
    except (RefusedURL, UsageError, ValueError):
        return None  # not an index this tool would ever compare with: never "ours"


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _safe_dir(url: str) -> str:
    """A cache directory name for a clone base URL (host and port only)."""
    parts = urlsplit(url)
    return f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)


def _read_capped(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LOCAL_PROVENANCE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--provenance {path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_LOCAL_PROVENANCE_BYTES:
        raise UsageError(f"--provenance {path}: larger than {MAX_LOCAL_PROVENANCE_BYTES} bytes")
    return data


# -- whole lockfiles ----------------------------------------------------------------------------


SERIAL_FILES = 2
"""A release of at most this many files (an sdist and a wheel) has them fetched one after the
other by its own thread: a hand-over to the file pool cost more than the request."""

_Started = CheckResult | Callable[[], CheckResult]
"""A file's attestation result, or the call that waits for a verification under way."""

THREADS_PER_JOB = 8
"""Threads per ``--jobs`` slot in a lockfile run with worker processes (see ``Admission``).

Enough packages in flight that the run's process still has requests to make while the first
worker imports sigstore and builds the trust root (with 4, a per-process timeline showed the
run's process idle for 0.4 s at that point, every thread waiting for a verdict); no more,
because a cold run is bound by the CPU time of all its processes together (the workers are
niced and take what the run's process leaves idle), and every further runnable thread adds its
share of interpreter-lock hand-overs: measured on the 200-package benchmark, 16 per slot used
about 5% more CPU than 8 and was no faster."""

STARTING = 4
"""While no verdict can have come back yet, ``Admission`` lets in up to this many times its cap:
enough packages for the run's process to keep asking while the first worker starts, and a
bound should that worker never answer (a lockfile of thousands of packages is not a thousand
threads)."""

_T = TypeVar("_T")
_R = TypeVar("_R")


class Admission(Generic[_T, _R]):
    """Runs ``fn`` over ``items`` in ``executor``: ``jobs`` at first, more only while some wait.

    Why: with verification in worker processes, a thread waiting for its file's verdict must
    not hold back the next package's requests, or the run's process idles while the first
    worker is still building the trust root. So each such wait starts one more runner
    (``waiting``, called by the pooled checker); a runner that finishes a package takes the
    next itself. A run that waits for nothing (every verdict reused) keeps the runners it
    started with (``start``, else ``jobs``), and threads: more would only contend for the
    interpreter lock; ``network_wait`` adds them up to ``jobs``. At most ``cap`` runners in
    all, or ``STARTING`` times that while ``uncapped()`` says the waits cannot end soon (no
    verdict has come back yet: the first worker is still importing sigstore). Results come
    back in the order of ``items``; the first exception is raised, as ``Executor.map`` would.
    """

    def __init__(
        self,
        executor: Executor,
        fn: Callable[[_T], _R],
        items: Sequence[_T],
        jobs: int,
        *,
        cap: int | None = None,
        uncapped: Callable[[], bool] = lambda: False,
        start: int | None = None,
    ) -> None:
        self._executor = executor
        self._fn = fn
        self._items = list(items)
        self._cond = threading.Condition()
        self._futures: list[Future[_R] | None] = [None] * len(self._items)
        self._next = 0
        self._stopped = False
        self._jobs = max(1, jobs)
        self._cap = cap
        self._uncapped = uncapped
        self._runners = 0
        self._returned: list[int] = []
        """Items claimed for a runner the system refused to start, for the next free runner."""
        self._start = self._jobs if start is None else max(1, min(start, self._jobs))

    def _claim(self) -> int | None:
        """The next item's index, its future made; None when there is none (or after stop)."""
        with self._cond:
            return self._claim_locked()

    def _claim_locked(self) -> int | None:
        if self._stopped:
            return None
        if self._returned:
            return self._returned.pop()  # its future exists already
        if self._next >= len(self._items):
            return None
        index = self._next
        self._next += 1
        self._futures[index] = Future()
        self._cond.notify_all()
        return index

    def _admit(self, limit: int | None = None) -> None:
        """Start one more runner, if any item is left (and fewer than ``limit`` run).

        A runner the system refuses to start (a thread limit) is only fewer runners: its item
        goes back to be taken by the next runner free, never lost, never an error.
        """
        with self._cond:
            if limit is not None and self._runners >= limit:
                return
            index = self._claim_locked()
            if index is None:
                return
            self._runners += 1
        try:
            self._executor.submit(self._run, index)
        except RuntimeError:
            if self._runners == 1:
                raise  # no runner at all: the run cannot go on
            with self._cond:
                self._runners -= 1
                self._returned.append(index)

    def _run(self, index: int | None) -> None:
        """A runner: this item, then the next unclaimed ones, until none is left."""
        while index is not None:
            future = self._futures[index]
            assert future is not None  # noqa: S101 - made by _claim
            try:
                future.set_result(self._fn(self._items[index]))
            except BaseException as exc:  # raised to the caller by results()
                future.set_exception(exc)
            index = self._claim()

    def network_wait(self) -> None:
        """A thread of this run is about to wait for the network: one more, up to ``jobs``.

        A run started with fewer runners than ``jobs`` (``start``) grows to ``jobs`` only as
        its threads make requests: one whose answers all come from the cache, and so never
        waits, stays on one thread, where more would only take turns at the interpreter lock.
        """
        self._admit(limit=self._jobs)

    def waiting(self) -> None:
        """A thread of this run is about to wait for a verdict: start one more runner."""
        cap = self._cap
        if cap is None:
            self._admit()
        else:
            self._admit(limit=cap * STARTING if self._uncapped() else cap)

    def stop(self) -> None:
        """Admit nothing more (Ctrl-C)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def results(self) -> list[_R]:
        """Start the first runners (``start``); then every result, in order of ``items``."""
        for _ in range(self._start):
            self._admit()
        out: list[_R] = []
        for index in range(len(self._items)):
            with self._cond:
                while (future := self._futures[index]) is None:
                    if self._stopped:
                        raise CancelledError
                    self._cond.wait()
            out.append(future.result())
        return out


class LockfileRun:
    """Every package of a lockfile through the pipeline, with bounded concurrency: nothing else.

    Pinned hashes are compared with the index's published digests; PEP 740 verification needs
    only a file's name and digest, so no distribution whose pin is published is downloaded.
    """

    def __init__(self, pipeline: Pipeline, *, jobs: int, processes: int | None = None) -> None:
        """Set up a run; nothing is fetched yet.

        ``jobs``: requests on the wire at once. ``processes``: verification worker processes
        (None: one per core, from two cores, for lockfiles of ``workers.MIN_FILES`` files or more;
        0: verify in this process).
        """
        self.pipeline = pipeline
        self.jobs = max(1, jobs)
        self.processes = processes

    def run(self, lock: Lockfile) -> list[tuple[ReleaseReport, PinnedPackage | None, Policy]]:
        """One report per package, in lockfile order, with the package to audit and its policy."""
        from concurrent.futures import ThreadPoolExecutor

        from verifier.workers import VerificationPool, default_processes

        total = len(lock.packages)
        done = 0
        lock_ = threading.Lock()
        files = sum(len(pkg.files) for pkg in lock.packages if pkg.skip_reason is None)
        wanted = default_processes(files) if self.processes is None else self.processes
        # The workers are forked before the network threads exist (see verifier.workers).
        with VerificationPool(self.pipeline.attestations, wanted) as workers:
            pipeline = self.pipeline.with_attestations(workers.checker)

            def one(pkg: PinnedPackage) -> tuple[ReleaseReport, PinnedPackage | None, Policy]:
                nonlocal done
                subject = pipeline.resolve_package(pkg)
                report = pipeline.verify(subject)
                with lock_:
                    done += 1
                    pipeline.progress(f"[{done}/{total}] {pkg.name}=={pkg.version}")
                return report, subject.audit, subject.policy

            # More packages than --jobs in flight only while threads wait for verdicts
            # (Admission); the HTTP client's gate keeps at most --jobs requests on the wire
            # either way (verifier.gate).
            threads = self.jobs if workers.processes == 0 else self.jobs * THREADS_PER_JOB
            # Threads are started only as runners are admitted (Admission's cap, or STARTING
            # times it while no verdict has come back yet).
            pool = ThreadPoolExecutor(max_workers=min(max(1, total), threads * STARTING))
            # Created after the workers were forked; shared by every package's files. Its
            # threads only fetch and hand over, never wait for a verdict: --jobs of them.
            files_pool = ThreadPoolExecutor(max_workers=self.jobs)
            pipeline.file_pool = files_pool
            admission = Admission(
                pool,
                one,
                lock.packages,
                self.jobs,
                cap=threads,
                uncapped=workers.unanswered,
                start=1,
            )
            workers.on_wait(admission.waiting)
            # One runner at first; each request lets one more in, up to --jobs, so a run whose
            # answers all come from the cache stays on one thread (measured on the benchmark's
            # warm run: 12% faster than on 8).
            gate = self.pipeline.index.http.gate
            gate.on_wait = admission.network_wait
            try:
                reports = admission.results()
            except BaseException as exc:
                # Ctrl-C: cancel the queued packages and do not wait for requests under way
                # (the pool's ``with`` would wait for every package, queued ones included).
                admission.stop()
                pool.shutdown(wait=False, cancel_futures=True)
                files_pool.shutdown(wait=False, cancel_futures=True)
                # Threads already started but waiting for a request slot ask nothing more.
                self.pipeline.index.http.cancel()
                if isinstance(exc, KeyboardInterrupt):
                    children.stop()
                raise
            finally:
                gate.on_wait = None
            pool.shutdown()
            files_pool.shutdown()
            return reports
