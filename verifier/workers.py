"""Attestation verification in worker processes, for lockfile runs.

Why this exists: verifying one PEP 740 attestation is CPU work (parsing, an X.509 chain, four
ECDSA signatures, an inclusion proof), and threads share one interpreter lock. A 200-package
lockfile therefore kept one core busy while the others idled, however many ``--jobs`` fetched
in parallel. Here the network stays in the run's threads and the verification moves to worker
processes.

The workers are forked from the run's own process after the trust root is loaded, so they start
in milliseconds, need no second import of sigstore, and verify with exactly the ``Verifier`` the
run built (the same trust root, custom or production, and the same staging detector). Forking is
only done where it is safe: on Linux, while the process still has a single thread (before the
network pool starts). Anywhere else, or with ``--verify-processes 0``, verification stays in the
process, with the same results.

Fail closed: if a worker dies (a crash on hostile input, the out-of-memory killer), the files it
held and every file after it are UNVERIFIABLE, never passed. An exception inside a worker is a
bug and propagates, exactly as it would in-process (exit 4).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from verifier.checks.attestations import AttestationChecker
from verifier.errors import UsageError
from verifier.models import Check, CheckResult, EvidenceKind, Status
from verifier.trust import TrustRootUnusable

if TYPE_CHECKING:
    from verifier.policy import ExpectedPublisher

_logger = logging.getLogger(__name__)

MIN_FILES = 8
"""Below this many files a lockfile run verifies in-process: forking would save nothing."""
MAX_PROCESSES = 16
"""A cap on the default; in the lockfile benchmark one worker added about 45 MB of RSS, much of it
pages shared with the parent."""

_worker_checker: AttestationChecker | None = None


def available_cores() -> int:
    """The cores this process may run on (the CPU affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_processes(files: int) -> int:
    """One fewer than the cores (the run's own process keeps one for the network)."""
    if files < MIN_FILES:
        return 0
    return min(MAX_PROCESSES, available_cores() - 1)


def fork_unsafe_reason() -> str | None:
    """Why worker processes cannot be forked here and now, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "worker processes are only forked on Linux"
    if threading.active_count() != 1:
        # Forking a threaded process can copy a lock some other thread holds.
        return "the process already runs other threads"
    return None


def _install(checker: AttestationChecker) -> None:
    """Worker start-up: keep the inherited checker; leave Ctrl-C to the parent."""
    global _worker_checker
    _worker_checker = checker
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_in_worker(
    raw: bytes,
    filename: str,
    digest: str,
    expected: ExpectedPublisher | None,
    record_trusted: bool,
) -> CheckResult | UsageError:
    if _worker_checker is None:  # pragma: no cover - _install always runs first
        raise RuntimeError("verification worker started without a checker")
    try:
        return _worker_checker.check_provenance(
            raw, filename=filename, digest=digest, expected=expected, record_trusted=record_trusted
        )
    except TrustRootUnusable as exc:
        # A deferred trust root is built in each worker, on its first file (overlapping the
        # parent's requests); an unusable one travels back as the usage error it is.
        return UsageError(exc.error.message, hint=exc.error.hint)


class PooledAttestationChecker(AttestationChecker):
    """An ``AttestationChecker`` whose provenance checks run in forked worker processes."""

    def __init__(self, inner: AttestationChecker, executor: ProcessPoolExecutor) -> None:
        super().__init__(inner._verifier, staging=inner._staging)
        self._executor = executor
        self._broken = False

    def check_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool = True,
    ) -> CheckResult:
        """Verify in a worker, and wait for it; never after a worker has died.

        The calling thread waits rather than verifying in-process when the workers are busy:
        measured, that was slower, because it takes the interpreter lock from the threads doing
        the network work.
        """
        if self._broken:
            return _lost(filename)
        try:
            future = self._executor.submit(
                _check_in_worker, raw, filename, digest, expected, record_trusted
            )
            result = future.result()
        except BrokenProcessPool:
            self._broken = True
            return _lost(filename)
        if isinstance(result, UsageError):
            raise TrustRootUnusable(result)
        return result


def _lost(filename: str) -> CheckResult:
    return CheckResult(
        check=Check.ATTESTATION,
        status=Status.UNREACHABLE,
        kind=EvidenceKind.ATTESTATIONS,
        subject=filename,
        message="a verification worker process exited unexpectedly, so this file's "
        "attestations were not verified (rerun with --verify-processes 0 to verify in-process)",
        rule="every attestation must be verified",
    )


class VerificationPool:
    """Worker processes for one lockfile run; use as a context manager around the run."""

    def __init__(self, checker: AttestationChecker, processes: int) -> None:
        self.checker = checker
        """The checker to use: pooled when the workers started, else the one given."""
        self.processes = 0
        self.reason: str | None = None
        """Why verification stays in-process, when it does."""
        self._executor: ProcessPoolExecutor | None = None
        if processes <= 0:
            return
        self.reason = fork_unsafe_reason()
        if self.reason is not None:
            _logger.info("verifying in-process: %s", self.reason)
            return
        import gc
        import multiprocessing

        executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_install,
            initargs=(checker,),
        )
        # The first task forks every worker now, while this process has a single thread.
        # Frozen objects are never scanned by the workers' garbage collector, so the pages they
        # share with this process stay shared instead of being copied on the first collection.
        gc.freeze()
        try:
            executor.submit(os.getpid).result()
        finally:
            gc.unfreeze()
        self._executor = executor
        self.processes = processes
        self.checker = PooledAttestationChecker(checker, executor)
        _logger.info("verifying with %d worker processes", processes)

    def close(self, *, interrupted: bool = False) -> None:
        """Stop the workers, cancelling queued work.

        ``interrupted`` (Ctrl-C, or a bug in the run): kill them rather than wait for the
        verifications under way. They ignore SIGINT and, being forked, hold their own end of
        the task queue, so a worker left alive would outlive the run, waiting forever.
        """
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if not interrupted:
            executor.shutdown(wait=True, cancel_futures=True)
            return
        processes = list((executor._processes or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=1)

    def __enter__(self) -> VerificationPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.close(interrupted=kind is not None)
