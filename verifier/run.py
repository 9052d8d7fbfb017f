"""One run, wired: the command line's choices -> policy, clients, pipeline -> judged reports.

The only module that builds the clients and the pipeline from parsed arguments; ``cli.py``
parses, calls ``verify`` (or ``Session`` for ``pin``), renders and exits. Heavy libraries are
imported inside the functions, so importing this module costs nothing for ``--help``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from verifier import atomic
from verifier.errors import UsageError
from verifier.models import Check, ReleaseReport

if TYPE_CHECKING:
    from verifier.lockfiles import PinnedPackage
    from verifier.models import Report
    from verifier.policy import Policy, PolicyFile

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


def is_local_target(target: str) -> bool:
    """A target naming a local distribution file rather than a ``NAME==VERSION`` pin."""
    return "==" not in target and (os.sep in target or target.endswith(DIST_SUFFIXES))


def default_data_dir() -> Path:
    """The user's data directory for verify-release (the cache's key lives there).

    ``VERIFY_RELEASE_DATA_DIR`` overrides it on every platform: the GitHub Action keeps the key
    with the cache it authenticates (see docs/verifying.md, "The Action's cache").
    """
    override = os.environ.get("VERIFY_RELEASE_DATA_DIR", "").strip()
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("verify-release", "verify-release"))


def default_cache_dir() -> Path:
    """The user's cache directory (``VERIFY_RELEASE_CACHE_DIR``, then ``--cache-dir``, win)."""
    override = os.environ.get("VERIFY_RELEASE_CACHE_DIR", "").strip()
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("verify-release", "verify-release"))


def base_policy(args: argparse.Namespace) -> Policy:
    """The command line's policy: the pinned publisher and the flags, each its own source.

    Combinations that do not apply (``--repository`` with ``--lockfile``, ``--workflow``
    without ``--repository``) were refused by ``cli.validate_args`` before a run starts.
    """
    from verifier.policy import (
        Policy,
        circleci_publisher,
        google_publisher,
        parse_repository_url,
    )

    expected = None
    if args.repository:
        expected = parse_repository_url(
            args.repository,
            source="command line",
            workflow=args.workflow,
            environment=args.environment,
        )
    elif getattr(args, "google_service_account", None):
        expected = google_publisher(
            args.google_service_account,
            source="command line",
            where="--google-service-account",
        )
    elif getattr(args, "circleci_project", None) and args.circleci_pipeline_definition:
        expected = circleci_publisher(
            args.circleci_project,
            args.circleci_pipeline_definition,
            source="command line",
            where=("--circleci-project", "--circleci-pipeline-definition"),
        )
    return Policy(
        expected=expected,
        allow_missing=frozenset(args.allow_missing),
        required=frozenset(args.require),
        skip=frozenset(args.skip),
    )


def policy_file_of(args: argparse.Namespace) -> PolicyFile | None:
    """``--policy FILE``, else the policy file found in the working directory, else None."""
    import dataclasses

    from verifier.policy import find_policy_file, load_policy_file

    if args.policy is not None:
        return load_policy_file(args.policy)
    found = find_policy_file(Path.cwd())
    if found is None:
        return None
    # Named in every rule it contributes, with how it was found: an implicit file in the
    # working directory changes the verdict, so the report must say which one did.
    return dataclasses.replace(load_policy_file(found), found_implicitly=True)


def flag_url(flag: str, url: str) -> None:
    """A URL given as a flag: a refused one is a usage error (exit 3), naming the flag."""
    from verifier.errors import RefusedURL
    from verifier.http import check_url

    try:
        check_url(url)
    except RefusedURL as exc:
        raise UsageError(f"{flag}: {exc.message}", hint=exc.hint) from None


def download_dir(args: argparse.Namespace) -> Path | None:
    """``--download DIR``, created if needed; a path that cannot be a directory is a usage error.

    Checked before any work, so a typo does not surface after every file was verified.
    """
    directory: Path | None = getattr(args, "download", None)
    if directory is None:
        return None
    if args.evidence is not None:
        raise UsageError(
            "--download cannot be used with --evidence",
            hint="an evidence directory holds no distributions; download without --evidence",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--download {directory}: cannot create the directory: {exc.strerror}"
        ) from None
    return directory


class Session:
    """Everything one run shares: trust root, HTTP client, caches, clients, the pipeline."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        record: Path | None = None,
        progress: Callable[[str], None] = _quiet,
    ) -> None:
        from verifier.checks.attestations import AttestationChecker
        from verifier.checks.bundles import BundleChecker
        from verifier.checks.hashes import FileCache
        from verifier.github import GitHubClient
        from verifier.http import HttpClient, HttpConfig
        from verifier.pipeline import Pipeline, SourceOptions
        from verifier.pypi import IndexClient
        from verifier.store import ResponseStore, cache_key
        from verifier.trust import StagingDetector, load_custom, load_production
        from verifier.verdicts import VerdictCache
        from verifier.writer import current as background_writes

        if args.timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
        if args.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if args.verify_processes is not None and args.verify_processes < 0:
            raise UsageError("--verify-processes must be 0 or more")
        self.args = args
        for flag, value in (
            ("--allowed-signers", args.allowed_signers),
            ("--gpg-keyring", args.gpg_keyring),
        ):
            if value is not None and not value.is_file():
                raise UsageError(f"{flag} {value}: no such file")
        for flag, url in (
            ("--index-url", args.index_url),
            ("--github-api-url", args.github_api_url),
            ("--osv-url", args.osv_url),
        ):
            if url is not None:
                flag_url(flag, url)
        self.policy_file = policy_file_of(args)
        if self.policy_file is not None:
            from verifier.checks.vulns import check_expiry

            # An expired ignore is a decision to revisit: say so before any work is done.
            check_expiry(self.policy_file.ignores)
        policy = base_policy(args)
        if args.trusted_root is not None:
            self.root = load_custom(args.trusted_root)
            staging = None
        else:
            self.root = load_production(offline=args.offline or args.evidence is not None)
            staging = StagingDetector()
        cache_root = args.cache_dir or default_cache_dir()
        evidence_dir = record or args.evidence
        response_cache = None
        verdicts = None
        if not (args.no_cache or args.evidence):
            # Entries are authenticated with a key outside the cache (see ResponseStore).
            key = cache_key(default_data_dir() / "cache.key")
            response_cache = ResponseStore(cache_root / "http", mac_key=key) if key else None
            if response_cache is not None:
                response_cache.writes = background_writes()
            if key and not getattr(args, "no_verdict_cache", False):
                # Earlier verdicts, keyed by everything they depend on (verifier.verdicts).
                verdicts = VerdictCache.for_run(
                    cache_root / "verdicts",
                    mac_key=key,
                    trust=self.root,
                    staging=staging is not None,
                )
                if verdicts is not None:
                    verdicts.writes = background_writes()
        self.http = HttpClient(
            # The wall-clock deadline per request scales with --timeout, so a server dripping
            # one byte at a time cannot hold a request much longer than the user asked for.
            HttpConfig(read_timeout=args.timeout, deadline=max(60.0, 10 * args.timeout)),
            cache=response_cache,
            evidence=ResponseStore(evidence_dir / "http") if evidence_dir else None,
            replay=args.evidence is not None,
        )
        self.http.pool_size(args.jobs)
        self._workdir = tempfile.TemporaryDirectory(prefix="verify-release-")
        try:
            files_root = evidence_dir if evidence_dir is not None else cache_root
            cache = FileCache(files_root)
            github = GitHubClient.from_env(self.http, args.github_api_url)
            file_tags = self.policy_file
            sources = SourceOptions(
                github=github,
                bundle_checker=BundleChecker(
                    self.root.verifier, github, cache.root, staging=staging
                ),
                cert_identity=args.cert_identity,
                cert_oidc_issuer=args.cert_oidc_issuer,
                git_repo=args.git_repo,
                tag_template=args.tag_template or (file_tags.tag_template if file_tags else None),
                allowed_signers=args.allowed_signers
                or (file_tags.allowed_signers if file_tags else None),
                gpg_keyring=args.gpg_keyring or (file_tags.gpg_keyring if file_tags else None),
                gnupghome=os.environ.get("GNUPGHOME"),
                workdir=Path(self._workdir.name),
                offline_git=args.evidence is not None,
            )
            self.pipeline = Pipeline(
                index=IndexClient(self.http, args.index_url),
                cache=cache,
                attestations=AttestationChecker(self.root.verifier, staging=staging),
                policy=policy,
                progress=_quiet if args.quiet else progress,
                sources=sources,
                policy_file=self.policy_file,
                allow_unindexed={
                    name: f"--allow-unindexed {name}" for name in args.allow_unindexed or ()
                },
                download_dir=download_dir(args),
                verdicts=verdicts,
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the HTTP pool and the scratch directory."""
        self.http.close()
        self._workdir.cleanup()

    def releases(self) -> list[tuple[ReleaseReport, PinnedPackage | None, Policy]]:
        """Every subject through the one pipeline: (report, package to audit, its policy).

        The trust root is built on first use (``verifier.trust.DeferredVerifier``); one that
        turns out unusable there stops the run as the usage error it is. A run that neither
        verified nor reused anything still builds it, so a bad ``--trusted-root`` never goes
        unnoticed; one that verified (here or in a worker) built it, and one that reused earlier
        verdicts reused what these very bytes verified.
        """
        from verifier.trust import TrustRootUnusable

        try:
            releases = self._releases()
        except TrustRootUnusable as exc:
            raise exc.error from None
        verdicts = self.pipeline.verdicts
        if verdicts is None or not (verdicts.reused or verdicts.verified):
            self.root.load()
        return releases

    def _releases(self) -> list[tuple[ReleaseReport, PinnedPackage | None, Policy]]:
        """Each ``--lockfile`` in the order given, then each target, in one list.

        One report and one verdict cover everything the command line named.
        """
        from verifier.pypi import parse_pin_specifier

        out: list[tuple[ReleaseReport, PinnedPackage | None, Policy]] = []
        lockfiles: list[Path] = self.args.lockfiles
        # A malformed pin among several is a usage error before any request is made.
        for target in self.args.targets:
            if not is_local_target(target):
                parse_pin_specifier(target)
        if lockfiles:
            from verifier.lockfiles import parse_lockfile
            from verifier.pipeline import LockfileRun

            # Every lockfile is read, and every package's rules checked, before any work: a
            # conflict in the second lockfile is a usage error, not a late surprise.
            locks = [parse_lockfile(path, self.args.lockfile_format) for path in lockfiles]
            for lock in locks:
                for pkg in lock.packages:
                    self.pipeline.policy_for(pkg.name, pkg.attestation_identities)
            run = LockfileRun(
                self.pipeline, jobs=self.args.jobs, processes=self.args.verify_processes
            )
            for lock in locks:
                out += run.run(lock)
        for target in self.args.targets:
            out.append(self._target(target))
        return out

    def _target(self, target: str) -> tuple[ReleaseReport, PinnedPackage | None, Policy]:
        """One pin or local file through the pipeline."""
        from verifier.pypi import parse_pin_specifier

        args = self.args
        pipeline = self.pipeline
        if is_local_target(target):
            policy = pipeline.policy
            if args.offline:
                # Nothing is fetched for a local file under --offline: say so per kind, through
                # the same rule as --skip, so --require with --offline is a visible conflict.
                # Only for this file: the subject keeps its policy, and the next target (a pin
                # still reads the index under --offline) gets the command line's own.
                import dataclasses

                kinds = ("bundles", "tags", "vulnerabilities")
                pipeline.policy = dataclasses.replace(
                    pipeline.policy,
                    skip=pipeline.policy.skip | frozenset(kinds),
                    sources={
                        **{("skip", k): "--offline (nothing is fetched)" for k in kinds},
                        ("skip", "index-hash"): "--offline (the index is not consulted)",
                        **pipeline.policy.sources,
                    },
                )
            try:
                subject = pipeline.resolve_local(
                    Path(target), provenance=args.provenance, offline=args.offline
                )
            finally:
                pipeline.policy = policy
        else:
            name, spec = parse_pin_specifier(target)
            subject = pipeline.resolve_pin(name, spec)
        from concurrent.futures import ThreadPoolExecutor

        # A release of many files: their requests run in parallel too (--jobs of them).
        with ThreadPoolExecutor(max_workers=args.jobs) as files_pool:
            pipeline.file_pool = files_pool
            try:
                return pipeline.verify(subject), subject.audit, subject.policy
            except BaseException:
                files_pool.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                pipeline.file_pool = None


def audit_all(
    session: Session, runs: list[tuple[ReleaseReport, PinnedPackage | None, Policy]]
) -> list[ReleaseReport]:
    """Known vulnerabilities (pip-audit) for every audited package, judged into its report."""
    import dataclasses

    from verifier.judge import judge
    from verifier.models import CheckResult, EvidenceKind, Status

    args = session.args
    results: dict[int, list[CheckResult]] = {}
    to_audit: list[tuple[int, PinnedPackage]] = []
    for index, (_report, package, policy) in enumerate(runs):
        if package is None:
            continue
        label = f"{package.name}=={package.version}"
        if "vulnerabilities" in policy.skip:
            results[index] = [
                CheckResult(
                    check=Check.VULNERABILITY,
                    status=Status.NOT_CHECKED,
                    kind=EvidenceKind.VULNERABILITIES,
                    subject=label,
                    message="vulnerabilities not checked",
                )
            ]
        elif args.evidence is not None:
            results[index] = [
                CheckResult(
                    check=Check.VULNERABILITY,
                    status=Status.UNREACHABLE,
                    subject=label,
                    message="the vulnerability service cannot be asked without a network",
                )
            ]
        else:
            to_audit.append((index, package))
    if to_audit:
        from verifier.checks.vulns import audit

        session.pipeline.progress(f"auditing {len(to_audit)} packages for known vulnerabilities")
        ignores = session.policy_file.ignores if session.policy_file else ()
        found = audit(
            [p for _, p in to_audit],
            service=args.vuln_service,
            osv_url=args.osv_url,
            ignores=ignores,
        )
        by_label: dict[str, list[CheckResult]] = {}
        for result in found:
            by_label.setdefault(result.subject, []).append(result)
        for index, package in to_audit:
            results[index] = by_label.get(f"{package.name}=={package.version}", [])
    merged = []
    for index, (report, _package, policy) in enumerate(runs):
        extra = [judge(r, policy) for r in results.get(index, [])]
        if extra:
            where = next((f.location for f in report.findings if f.location), None)
            extra = [dataclasses.replace(f, location=f.location or where) for f in extra]
            report = dataclasses.replace(report, findings=(*report.findings, *extra))
        merged.append(report)
    return merged


INTERRUPTED_PATIENCE = 1.0
"""Seconds an interrupted run waits for its background writer to finish its entries."""


def _fork_helpers(args: argparse.Namespace) -> None:
    """A lockfile run's children, forked before the run's own start-up (and its threads).

    The first verification worker imports sigstore at once only when this run is likely to
    verify something: no verdict cache, or one that holds no verdict yet (a first run). A run
    that finds earlier verdicts lets it import on its first file, if any
    (``verifier.workers.fork_early``). Such a first run also writes about as many cache entries
    as it makes requests: they go to a background writer (``verifier.writer``). Only guesses
    about speed: what is verified, and how, does not depend on them.
    """
    from verifier import workers, writer

    if not args.lockfiles or args.verify_processes == 0:
        return
    processes = args.verify_processes
    if processes is None:
        # The lockfile is not read yet: the default for one that needs workers (the pool
        # ends the first worker if it turns out to need none).
        processes = workers.default_processes(workers.MIN_FILES)
        if processes == 0:
            return
    caching = not (args.no_cache or args.evidence)
    eager = True
    if caching and not getattr(args, "no_verdict_cache", False):
        eager = _nothing_in(Path(args.cache_dir or default_cache_dir()) / "verdicts")
    if caching and eager:
        writer.start()  # first: the workers forked next close its pipe
    if args.trusted_root is not None:
        # Only a root read from a file is built on first use, from bytes that can be handed
        # to a worker forked before it was read; Sigstore's own root is built in this process
        # (``verifier.trust``), and the workers forked later inherit it.
        workers.fork_early(processes, eager=eager)


def _nothing_in(folder: Path) -> bool:
    """Whether ``folder`` is missing or empty (one directory read, never its entries)."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return True


def verify(
    args: argparse.Namespace,
    *,
    record: Path | None = None,
    progress: Callable[[str], None] = _quiet,
) -> Report:
    """Every subject the arguments name, through the pipeline and the judge, as one report."""
    from verifier.models import Report, compute_verdict

    if not args.lockfiles and not args.targets:
        raise UsageError("name a release (NAME==VERSION), a distribution file, or --lockfile FILE")
    from verifier import workers, writer

    try:
        _fork_helpers(args)
        session = Session(args, record=record, progress=progress)
        try:
            reports = audit_all(session, session.releases())
        finally:
            session.close()
    except (KeyboardInterrupt, atomic.Terminated):
        writer.finish(patience=INTERRUPTED_PATIENCE)
        raise
    finally:
        workers.discard_early()
        writer.finish()
    findings = [f for r in reports for f in r.findings]
    return Report(
        releases=tuple(reports),
        trust_root=session.root.info,
        verdict=compute_verdict(findings),
        warnings=tuple(session.pipeline.warnings),
    )
