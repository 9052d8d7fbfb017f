"""The chain: resolve the release, run every check on every file, collect the findings.

This is the only module that knows the order of the checks and how their evidence relates;
checks themselves never print, and the verdict is computed from the findings in one place
(``models.compute_verdict``).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from verifier.certificates import GITHUB_ACTIONS_ISSUER
from verifier.checks.attestations import AttestationChecker
from verifier.checks.bundles import BundleChecker, BundleIdentity, find_release
from verifier.checks.hashes import FileCache, check_file, check_local, sha256_file
from verifier.checks.tags import check_tag, forge_trust, missing_tag, tag_candidates, user_trust
from verifier.errors import (
    NetworkError,
    NotFoundError,
    PolicyError,
    UpstreamError,
    UsageError,
    VerifierError,
)
from verifier.git import GitRepo, TagSignature
from verifier.github import GitHubClient, git_base_url
from verifier.links import link_evidence
from verifier.lockfiles import Lockfile, PinnedPackage
from verifier.models import Check, Finding, Outcome, Release, ReleaseFile, ReleaseReport
from verifier.policy import (
    ExpectedPublisher,
    Policy,
    PolicyFile,
    parse_repository_url,
    publisher_from_project_urls,
)
from verifier.pypi import IndexClient, dist_version, same_distribution

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
        sources: SourceOptions | None = None,
    ) -> None:
        self.sources = sources or SourceOptions()
        self.identity_from_index = True
        self.index = index
        self.cache = cache
        self.attestations = attestations
        self.policy = policy
        self.progress = progress
        self.warnings: list[str] = []

    def with_policy(self, policy: Policy) -> Chain:
        """The same collaborators under another policy (one per lockfile package)."""
        other = copy.copy(self)
        other.policy = policy
        return other

    def with_attestations(self, attestations: AttestationChecker) -> Chain:
        """The same collaborators with another attestation checker (worker processes)."""
        other = copy.copy(self)
        other.attestations = attestations
        return other

    # -- identity ----------------------------------------------------------------------------

    def choose_identity(
        self, name: NormalizedName, version: str, *, use_index: bool
    ) -> IdentityChoice:
        """The user's ``--repository``; else the index's project URLs; else PyPI's record."""
        if self.policy.expected is not None:
            source = self.policy.expected.source
            label = {"command line": "command line (--repository)"}.get(source, source)
            if self.policy.pinned:
                label += " (pinned: a change of publisher fails)"
            return IdentityChoice(self.policy.expected, label)
        if use_index and self.identity_from_index:
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
        findings.extend(self._signed_sources(release, identity.expected, findings))
        return ReleaseReport(
            label=label,
            files=release.files,
            findings=tuple(findings),
            identity_source=identity.source,
            expected_identity=identity.expected.as_dict() if identity.expected else {},
        )

    # -- bundles, tags and the links between all evidence -------------------------------------

    def _github_repository(
        self, expected: ExpectedPublisher | None, findings: list[Finding]
    ) -> str | None:
        """OWNER/REPO on GitHub: the user's pin, else what the verified attestations name."""
        if expected is not None:
            return expected.repository if expected.kind == "GitHub" else None
        for finding in findings:
            repo = finding.evidence.get("certificate.repository")
            if finding.outcome is not Outcome.VERIFIED or not repo:
                continue
            try:
                learned = parse_repository_url(repo, source="attestation certificate")
            except PolicyError:
                continue  # not a GitHub/GitLab URL (or a hostile one): learn nothing from it
            if learned.kind == "GitHub":
                return learned.repository
        return None

    def _signed_sources(
        self, release: Release, expected: ExpectedPublisher | None, findings: list[Finding]
    ) -> list[Finding]:
        opts = self.sources
        if opts.bundle_checker is None or opts.github is None or opts.workdir is None:
            return []
        if {"bundles", "tags"} <= self.policy.skip:
            return [_skipped(kind) for kind in ("bundles", "tags")]
        out: list[Finding] = []
        slug = self._github_repository(expected, findings)
        tags = tag_candidates(release.version, opts.tag_template)
        checker = opts.bundle_checker
        gh_release = None
        if "bundles" in self.policy.skip:
            out.append(_skipped("bundles"))
        elif slug is None:
            out += checker.unavailable(
                release.files,
                "no GitHub repository is known for this release (pass "
                "--repository https://github.com/OWNER/REPO)",
                self.policy,
                missing=True,
            )
        else:
            self.progress(f"{release.label}: GitHub release and bundles of {slug}")
            try:
                gh_release = find_release(opts.github, slug, tags)
            except NotFoundError as exc:
                out += checker.unavailable(release.files, exc.message, self.policy, missing=True)
            except (NetworkError, UpstreamError, UsageError) as exc:
                out += checker.unavailable(release.files, str(exc), self.policy, missing=False)
        if gh_release is not None and slug is not None:
            ref = f"refs/tags/{gh_release.tag}"
            workflow = (expected.workflow if expected else None) or _pep740_workflow(findings)
            ident = opts.cert_identity or (
                f"https://github.com/{slug}/.github/workflows/{workflow}@{ref}"
                if workflow
                else None
            )
            bundle_identity = BundleIdentity(
                identity=ident, issuer=opts.cert_oidc_issuer, repository=slug, ref=ref
            )
            out += checker.check(gh_release, release.files, bundle_identity, self.policy)
        answer: TagSignature | None = None
        if "tags" in self.policy.skip:
            out.append(_skipped("tags"))
        else:
            tag_finding, answer = self._tag(release, slug, tags)
            out.append(tag_finding)
        out += link_evidence([*findings, *out], expected=expected, tag=answer)
        return out

    def _tag(
        self, release: Release, slug: str | None, tags: list[str]
    ) -> tuple[Finding, TagSignature | None]:
        opts = self.sources
        assert opts.workdir is not None  # noqa: S101 - checked by the caller
        try:
            if opts.git_repo is not None:
                repo = GitRepo(opts.git_repo)
                repo.check()
            elif slug is not None:
                self.progress(f"{release.label}: cloning tags of {slug}")
                base = git_base_url(opts.github.api_url) if opts.github else "https://github.com"
                dest = self.cache.root / "repos" / _safe_dir(base) / slug
                if opts.offline_git:
                    if not (dest / "HEAD").exists():
                        return missing_tag(
                            release.label,
                            "the repository's tags are not in the evidence directory",
                            self.policy,
                        ), None
                    repo = GitRepo(dest)
                else:
                    repo = GitRepo.clone_tags(f"{base}/{slug}.git", dest)
            else:
                return missing_tag(
                    release.label,
                    "no repository to read tags from (pass --git-repo PATH or --repository URL)",
                    self.policy,
                ), None
            trust = user_trust(opts.allowed_signers, opts.gpg_keyring, opts.gnupghome, opts.workdir)
            if trust is None:
                owner = (slug or "").split("/")[0]
                if not owner or opts.github is None:
                    return missing_tag(
                        release.label,
                        "no trusted keys: pass --allowed-signers or --gpg-keyring",
                        self.policy,
                    ), None
                trust = forge_trust(
                    opts.github.ssh_signing_keys(owner),
                    opts.github.gpg_keys(owner),
                    owner,
                    opts.workdir,
                )
        except VerifierError as exc:
            # Includes a missing git or gpg: the tag cannot be checked, the rest of the run can.
            return Finding(
                check=Check.TAG,
                outcome=Outcome.UNVERIFIABLE,
                subject=release.label,
                message=str(exc),
                policy="the repository must be readable",
            ), None
        return check_tag(repo, tags, trust, self.policy, release.label)

    def _attestation(
        self, release: Release, file: ReleaseFile, expected: ExpectedPublisher | None
    ) -> Finding:
        if file.sha256 is None:
            return Finding(
                check=Check.ATTESTATION,
                outcome=Outcome.UNVERIFIABLE,
                subject=file.filename,
                message="the index publishes no sha256 to compare the attestation with",
                policy="the index must publish a sha256 for every file",
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


def _hashes(count: int) -> str:
    return "the pinned hash is" if count == 1 else f"all {count} pinned hashes are"


def _for(filename: str | None) -> str:
    return f" for {filename}" if filename else ""


def _pep740_workflow(findings: list[Finding]) -> str | None:
    """The workflow file name the verified PEP 740 certificates name."""
    for finding in findings:
        uri = finding.evidence.get("certificate.build_config_uri")
        if finding.check is Check.ATTESTATION and uri and "/.github/workflows/" in uri:
            return uri.split("/.github/workflows/", 1)[1].split("@", 1)[0]
    return None


def _safe_dir(url: str) -> str:
    """A cache directory name for a clone base URL (host and port only)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)


def _skipped(kind: str) -> Finding:
    check = Check.BUNDLE if kind == "bundles" else Check.TAG
    return Finding(
        check=check,
        outcome=Outcome.SKIPPED,
        subject="(all files)",
        message=f"{kind} not checked",
        policy=f"--skip {kind}",
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


# -- whole lockfiles ----------------------------------------------------------------------------


class LockfileRun:
    """Every pinned package of a lockfile, with bounded concurrency and shared collaborators.

    Pinned hashes are compared with the index's published digests; PEP 740 verification needs
    only a file's name and digest, so no distribution whose pin is published is downloaded.
    """

    def __init__(
        self,
        chain: Chain,
        *,
        policy_file: PolicyFile | None,
        jobs: int,
        processes: int | None = None,
    ) -> None:
        """Set up a run; nothing is fetched yet.

        ``jobs``: threads doing network work. ``processes``: verification worker processes
        (None: one fewer than the cores for lockfiles of ``workers.MIN_FILES`` files or more;
        0: verify in this process).
        """
        self.chain = chain
        self.policy_file = policy_file
        self.jobs = max(1, jobs)
        self.processes = processes

    def run(self, lock: Lockfile) -> list[ReleaseReport]:
        """One report per package, in lockfile order."""
        from concurrent.futures import ThreadPoolExecutor

        from verifier.workers import VerificationPool, default_processes

        total = len(lock.packages)
        done = 0
        lock_ = threading.Lock()
        files = sum(len(pkg.files) for pkg in lock.packages if pkg.skip_reason is None)
        wanted = default_processes(files) if self.processes is None else self.processes
        # The workers are forked before the network threads exist (see verifier.workers).
        with VerificationPool(self.chain.attestations, wanted) as workers:
            chain = self.chain.with_attestations(workers.checker)

            def one(pkg: PinnedPackage) -> ReleaseReport:
                nonlocal done
                report = self.package(pkg, chain)
                with lock_:
                    done += 1
                    chain.progress(f"[{done}/{total}] {pkg.name}=={pkg.version}")
                return report

            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                return list(pool.map(one, lock.packages))

    def package(self, pkg: PinnedPackage, base: Chain) -> ReleaseReport:
        """Lockfile pins, attestations (and bundles/tags) for one pinned package.

        ``base`` is the run's chain (with the worker pool's checker, when there is one).
        """
        label = f"{pkg.name}=={pkg.version}" if pkg.version else f"{pkg.name} ({pkg.source})"
        where = str(pkg.location)
        policy = base.policy.for_package(pkg.name, self.policy_file, pkg.attestation_identities)
        chain = base.with_policy(policy)
        if pkg.skip_reason is not None:
            finding = Finding(
                check=Check.LOCKFILE,
                outcome=Outcome.SKIPPED,
                subject=label,
                message=pkg.skip_reason,
                location=where,
                policy="only packages from an index can be verified",
            )
            return ReleaseReport(label=label, files=(), findings=(finding,))
        findings: list[Finding] = []
        try:
            release = chain.index.release(pkg.name, Version(pkg.version))
        except (NetworkError, UpstreamError, UsageError) as exc:
            finding = Finding(
                check=Check.LOCKFILE,
                outcome=Outcome.UNVERIFIABLE,
                subject=label,
                message=str(exc),
                location=where,
                policy="the index must list every pinned release",
            )
            return ReleaseReport(label=label, files=(), findings=(finding,))
        published = {f.sha256: f for f in release.files if f.sha256}
        pinned_files: list[ReleaseFile] = []
        for pin in pkg.files:
            if pin.sha256 is None:
                continue  # not compared, as before PinnedFile.hashes (the pipeline's to judge)
            match = published.get(pin.sha256)
            if match is None:
                findings.append(
                    Finding(
                        check=Check.LOCKFILE,
                        outcome=Outcome.FAILED,
                        subject=label,
                        message=f"pinned hash{_for(pin.filename)} is not one the index "
                        f"publishes for {label}",
                        expected=f"one of the {len(published)} digests the index publishes",
                        actual=f"sha256:{pin.sha256}",
                        location=where,
                        policy="every pinned hash must be published by the index",
                    )
                )
            elif pin.filename and not same_distribution(pin.filename, match.filename):
                findings.append(
                    Finding(
                        check=Check.LOCKFILE,
                        outcome=Outcome.FAILED,
                        subject=label,
                        message="the pinned hash belongs to another file on the index",
                        expected=pin.filename,
                        actual=match.filename,
                        location=where,
                        policy="every pinned hash must be published by the index",
                    )
                )
            else:
                pinned_files.append(match)
        if not pkg.hashes:
            findings.append(
                Finding(
                    check=Check.LOCKFILE,
                    outcome=Outcome.UNVERIFIABLE,
                    subject=label,
                    message="the lockfile pins no sha256 for this package",
                    location=where,
                    policy="packages must be hash-pinned",
                )
            )
        elif not findings:
            findings.append(
                Finding(
                    check=Check.LOCKFILE,
                    outcome=Outcome.VERIFIED,
                    subject=label,
                    message=f"{_hashes(len(pkg.hashes))} published by the index "
                    "(files not downloaded: installers enforce the pins)",
                    location=where,
                )
            )
        identity = chain.choose_identity(release.name, release.version, use_index=True)
        for file in pinned_files:
            findings.append(chain._attestation(release, file, identity.expected))
        subset = Release(name=release.name, version=release.version, files=tuple(pinned_files))
        if pinned_files:
            findings.extend(chain._signed_sources(subset, identity.expected, findings))
        located = tuple(dataclasses.replace(f, location=f.location or where) for f in findings)
        return ReleaseReport(
            label=label,
            files=tuple(pinned_files),
            findings=located,
            identity_source=identity.source,
            expected_identity=identity.expected.as_dict() if identity.expected else {},
        )
