"""Attestation verification in worker processes, for lockfile runs.

Why this exists: verifying one PEP 740 attestation is CPU work (parsing, an X.509 chain, four
ECDSA signatures, an inclusion proof), and threads share one interpreter lock. A 200-package
lockfile therefore kept one core busy while the others idled, however many ``--jobs`` fetched
in parallel. Here the network stays in the run's threads and the verification moves to worker
processes.

How the workers start, and why that way (measured on the 200-package benchmark):

- The first worker is forked from the run's own process before the network threads exist
  (forking a threaded process can copy a lock some other thread holds), and builds the trust
  root, importing sigstore, on its first file: about 0.6 s that overlaps the run's requests
  instead of preceding them. Not before: a run that verifies nothing (every verdict reused)
  never imports sigstore at all, and a first worker importing it at once, on the other core,
  made such a warm run about an eighth slower (measured: 1.17 s against 1.03 s, medians of
  10, the two cores of this machine share more than the scheduler shows).
- The other workers are forked by the first one, right after its first file: they inherit the
  built verifier instead of each importing sigstore again, and the first worker is
  single-threaded, so forking it is safe.
- The run never waits on a full pipe: files wait in one queue in the run's process, and a
  worker is sent the next file only when it holds fewer than ``DEPTH``. A worker that came up
  late is not left idle behind another one's backlog.
- ``ProcessPoolExecutor`` is not used: its queue-feeder and manager threads took a fifth of the
  run's interpreter time for 400 small tasks. Here each worker has one pipe; the thread with a
  file writes it there when the worker has room, one thread per worker reads its answers, and
  one sends the queued files on (the readers never write, see ``_Pool``).

Fail closed: if a worker dies (a crash on hostile input, the out-of-memory killer), or answers
anything but a well-formed result, every file not yet answered and every file after it are
UNVERIFIABLE, never passed. An exception inside a worker is a bug and propagates, exactly as it
would in-process (exit 4). Only Linux forks workers; anywhere else, or with
``--verify-processes 0``, verification stays in the process, with the same results.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection, Pipe
from typing import TYPE_CHECKING, Any

from verifier import affinity
from verifier.checks.attestations import AttestationChecker
from verifier.errors import UsageError
from verifier.models import Check, CheckResult, EvidenceKind, Status
from verifier.trust import DeferredVerifier, StagingDetector, TrustRootUnusable, build_now

if TYPE_CHECKING:
    from verifier.policy import ExpectedPublisher

_logger = logging.getLogger(__name__)

MIN_FILES = 8
"""Below this many files a lockfile run verifies in-process: forking would save nothing."""
MAX_PROCESSES = 16
"""A cap on the default; in the lockfile benchmark one worker added about 45 MB of RSS, much of it
pages shared with the parent."""
DEPTH = 2
"""Files sent to one worker before its answers come back: one being verified, one waiting."""
NICENESS = 10
"""How much lower the workers' scheduling priority is than the run's own process.

Why: in a cold run the run's process is the critical path. It fetches every provenance object
the workers verify, and its threads share one interpreter lock, so it can use one core at most;
with three busy processes on two cores the scheduler gave it about two thirds of one, and the
workers, fed more slowly, idled too. Niced, the workers take what the run's process leaves,
and every core once its requests are done. Raising one's own niceness needs no privilege.
"""

_worker_checker: AttestationChecker | None = None
_forked: list[int] = []
"""In the first worker: the workers it forked (it reaps them; see ``_end_first``)."""
_close_in_workers: list[Connection] = []
"""The run's ends of other children's pipes (``verifier.writer``): closed in each worker as
it is forked, so that only the run holds them (a child sees its pipe end when the run closes)."""
_early: EarlyWorker | None = None
"""In the run: the first worker ``fork_early`` started, until a pool adopts it or it is ended."""


def available_cores() -> int:
    """The cores this process may run on (the CPU affinity mask where the OS has one)."""
    pinned = affinity.full_cores()  # while the run keeps its threads on one (affinity.pin)
    if pinned is not None:
        return len(pinned)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_processes(files: int) -> int:
    """One per core: the later ones only start once the first has built the trust root.

    ``files``: how many the lockfile pins (``MIN_FILES`` when not known yet: a run that may
    need workers).

    The run's own process needs a core for the network while files arrive; the workers share
    the cores with it, and once the requests are done they have every core to themselves.
    """
    cores = available_cores()
    if files < MIN_FILES or cores < 2:
        return 0  # on one core a worker only adds the cost of handing files over
    return min(MAX_PROCESSES, cores)


def fork_unsafe_reason() -> str | None:
    """Why worker processes cannot be forked here and now, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "worker processes are only forked on Linux"
    if threading.active_count() != 1:
        # Forking a threaded process can copy a lock some other thread holds.
        return "the process already runs other threads"
    return None


def _check_in_worker(
    raw: bytes,
    filename: str,
    digest: str,
    expected: ExpectedPublisher | None,
    record_trusted: bool,
) -> CheckResult | UsageError:
    if _worker_checker is None:  # pragma: no cover - _serve always sets it first
        raise RuntimeError("verification worker started without a checker")
    try:
        return _worker_checker.check_provenance(
            raw, filename=filename, digest=digest, expected=expected, record_trusted=record_trusted
        )
    except TrustRootUnusable as exc:
        # The trust root is built in the first worker, on its first file (overlapping the
        # parent's requests); an unusable one travels back as the usage error it is.
        return UsageError(exc.error.message, hint=exc.error.hint)


def _answer(task_id: int, outcome: Any, *, ok: bool) -> bytes:
    try:
        return pickle.dumps((task_id, ok, outcome))
    except Exception as exc:
        return pickle.dumps((task_id, False, RuntimeError(f"{type(outcome).__name__}: {exc}")))


def _serve(conn: Connection, later: list[Connection]) -> None:
    """A worker's life: verify each file the run sends, answer, stop at end of input.

    ``later``: the pipes of the workers this one forks after its first file (see the module
    docstring); each child keeps its own pipe and closes every other.
    """
    children = _forked
    first = True
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            break  # the run closed its end (done, interrupted or gone): nothing more to do
        task_id, args = pickle.loads(message)  # noqa: S301 - written by the run that forked it
        try:
            answer = _answer(task_id, _check_in_worker(*args), ok=True)
        except Exception as exc:  # a bug: the run raises it (exit 4)
            answer = _answer(task_id, exc, ok=False)
        conn.send_bytes(answer)
        if first:
            first = False
            # What the trust root, the libraries and the first file built is never collected:
            # frozen, the garbage collector of this worker and of those it forks stops scanning
            # it, and their pages stay shared instead of being copied on the first collection.
            gc.freeze()
            # SIGTERM waits until each child is on the list its handler kills (_end_first).
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            first_pid = os.getpid()
            for index, child_conn in enumerate(later):
                pid = os.fork()
                if pid == 0:
                    _die_with(first_pid)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                    conn.close()
                    for other in later[:index] + later[index + 1 :]:
                        other.close()
                    _run_worker(child_conn, [], first=False)
                children.append(pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            for child_conn in later:
                child_conn.close()
            later = []
    for child in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)


def _run_worker(
    conn: Connection,
    later: list[Connection],
    *,
    first: bool,
    early: bool = False,
    eager: bool = False,
) -> None:
    """A forked process's whole life: never returns, never runs the parent's exit handlers.

    ``early``: forked by ``fork_early``, so the checker (and how many workers to fork) comes
    down the pipe first; ``eager``: import the verification libraries before it does.
    """
    code = 0
    try:
        # Ctrl-C is the run's to handle (it kills the workers); SIGTERM ends a worker at once.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _end_first if first else signal.SIG_DFL)
        affinity.forked()
        if first:  # the workers it forks inherit the niceness
            with contextlib.suppress(OSError):
                os.nice(NICENESS)
        conn.send_bytes(pickle.dumps(("ready", os.getpid())))
        if early:
            adopted = _await_checker(conn, later, eager=eager)
            if adopted is None:
                return  # the run ended, or verifies without workers: nothing to do
            later = adopted
        _serve(conn, later)
    except BaseException:  # the run sees the pipe close and fails closed
        code = 70
    finally:
        os._exit(code)


def _await_checker(
    conn: Connection, later: list[Connection], *, eager: bool
) -> list[Connection] | None:
    """In an early first worker: take the checker, and the pipes of the workers to fork later.

    None when the run closes the pipe instead (it needs no workers, or it ended). With
    ``eager`` the libraries are imported, and the trust root built, as soon as possible: that
    is the half second a cold run's first verdict otherwise waits for.
    """
    global _worker_checker
    if eager:
        _import_verification()
    try:
        message = conn.recv_bytes()
    except (EOFError, OSError):
        return None
    checker, workers = pickle.loads(message)  # noqa: S301 - written by the run that forked it
    for extra in later[workers - 1 :]:
        extra.close()
    _worker_checker = checker
    if eager:
        # An unusable root is reported with the first file (``_check_in_worker``).
        with contextlib.suppress(TrustRootUnusable):
            build_now(checker._verifier)
    return later[: workers - 1]


def _import_verification() -> None:
    """Import what verifying a provenance object imports (sigstore and pypi-attestations)."""
    import pypi_attestations  # noqa: F401
    import sigstore.models
    import sigstore.verify  # noqa: F401
    import sigstore_models.trustroot.v1  # noqa: F401


def _die_with(parent: int) -> None:
    """In a worker the first one forked: be killed by the kernel when the first worker dies.

    The first worker's SIGTERM handler kills and reaps the workers it forked, but a first
    worker that is killed outright (the out-of-memory killer, a crash) runs no handler: its
    children would be left to init, still verifying after the run ended. ``PR_SET_PDEATHSIG``
    makes the kernel send SIGKILL when the parent goes; if it went already, end now.
    """
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc/musl: no such guarantee
        pass
    if os.getppid() != parent:
        os._exit(0)  # the first worker died between the fork and the call above


def _end_first(signum: int, frame: object) -> None:
    """SIGTERM in the first worker: kill and reap the workers it forked, then exit.

    They are its children, not the run's: killed with their parent, they would be left to the
    system's init to reap.
    """
    for pid in _forked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in _forked:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    os._exit(128 + signum)


class _Worker:
    """The run's end of one worker: its pipe, its pid once known, what it holds."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pid: int | None = None
        self.held: dict[int, int] = {}
        """The files sent and not answered yet: task id -> size of the message."""
        self.held_bytes = 0
        self.sending = threading.Lock()
        self.budget = _direct_budget(conn)
        """How many bytes of unanswered files this worker's reader may write itself."""

    def hold(self, task_id: int, message: bytes) -> None:
        self.held[task_id] = len(message)
        self.held_bytes += len(message)

    def release(self, task_id: int) -> bool:
        """Forget an answered file; False if this worker was never given it."""
        size = self.held.pop(task_id, None)
        if size is None:
            return False
        self.held_bytes -= size
        return True


def _direct_budget(conn: Connection) -> int:
    """A quarter of the pipe's send buffer: what a reader can write without ever blocking.

    A worker's unread input is at most what it holds (sent, not yet answered). While that stays
    within a quarter of the buffer, with room for the kernel's accounting of each message, a
    write to it returns at once, so a reader that writes only then cannot deadlock with its
    worker (``_Pool``). 0 (always hand over) when the buffer cannot be read.
    """
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except OSError:
        return 0
    with sock:
        try:
            return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) // 4
        except OSError:
            return 0


class PooledAttestationChecker(AttestationChecker):
    """An ``AttestationChecker`` whose provenance checks run in forked worker processes."""

    def __init__(self, inner: AttestationChecker, pool: _Pool) -> None:
        super().__init__(inner._verifier, staging=inner._staging)
        self._pool = pool
        self.on_wait: Callable[[], None] | None = None
        """Called before each wait for a worker's answer (``pipeline.Admission.waiting``)."""

    def start_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool = True,
    ) -> Callable[[], CheckResult]:
        """Hand the file to a worker now; calling what this returns waits for its verdict.

        Never passes after a worker has died. The calling thread waits rather than verifying
        in-process when the workers are busy: measured, that was slower, because it takes the
        interpreter lock from the threads doing the network work.
        """
        future = self._pool.submit((raw, filename, digest, expected, record_trusted))

        def finish() -> CheckResult:
            if future is None:
                return _lost(filename)
            if self.on_wait is not None and not future.done():
                self.on_wait()
            outcome = future.result()
            if outcome is None:
                return _lost(filename)
            if isinstance(outcome, UsageError):
                raise TrustRootUnusable(outcome)
            return outcome

        return finish

    def check_provenance(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool = True,
    ) -> CheckResult:
        """Verify in a worker, and wait for it (``start_provenance``)."""
        return self.start_provenance(
            raw, filename=filename, digest=digest, expected=expected, record_trusted=record_trusted
        )()


class _Pool:
    """The queue of files, the workers' pipes, and the threads that read and send.

    A file goes straight down a worker's pipe from the thread that submits it when that worker
    holds fewer than ``DEPTH``; otherwise it waits in the queue, and when a worker answers (or
    says it is ready) its reading thread hands the next files to the sending thread. A reader
    itself never sends: a worker blocked writing a large answer would wait for the reader while
    the reader, blocked writing a large file, waited for the worker.
    """

    def __init__(self, workers: list[_Worker]) -> None:
        self._workers = workers
        self._cond = threading.Condition()
        self._queue: deque[tuple[int, bytes]] = deque()
        self._futures: dict[int, Future[CheckResult | UsageError | None]] = {}
        self._next_id = 0
        self.answered = 0
        """Files answered so far (read without the lock: a hint for scheduling only)."""
        self.broken = False
        self._outbox: deque[tuple[_Worker, bytes]] = deque()
        self._out = threading.Condition()
        self._threads = [
            *(
                threading.Thread(target=self._read, args=(worker,), daemon=True, name="verify-read")
                for worker in workers
            ),
            threading.Thread(target=self._write, daemon=True, name="verify-send"),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, args: tuple[Any, ...]) -> Future[CheckResult | UsageError | None] | None:
        """Send or queue one file; None once a worker has died (lost, never passed)."""
        future: Future[CheckResult | UsageError | None] = Future()
        with self._cond:
            if self.broken:
                return None
            task_id = self._next_id
            self._next_id += 1
            self._futures[task_id] = future
        message = pickle.dumps((task_id, args))
        with self._cond:
            self._queue.append((task_id, message))
            sends = self._take()
        self._send(sends)
        return future

    def _take(self) -> list[tuple[_Worker, bytes]]:
        """Under the lock: queued files for every started worker with room, marked as held."""
        sends: list[tuple[_Worker, bytes]] = []
        if self.broken:
            return sends
        for worker in sorted(self._workers, key=lambda w: len(w.held)):
            while worker.pid is not None and self._queue and len(worker.held) < DEPTH:
                task_id, message = self._queue.popleft()
                worker.hold(task_id, message)
                sends.append((worker, message))
        return sends

    def _hand_over(self, reader: _Worker, sends: list[tuple[_Worker, bytes]]) -> None:
        """From ``reader``'s reading thread, which must never block on a pipe.

        Files for its own worker, when all it holds fits its budget (``_direct_budget``), are
        written at once: such a write cannot block, and waking the sending thread for each
        file cost more than the write. The sending thread writes the others.
        """
        if not sends:
            return
        rest = []
        for worker, message in sends:
            if (
                worker is reader
                and reader.held_bytes <= reader.budget
                and self._try_send(worker, message)
            ):
                continue
            rest.append((worker, message))
        if rest:
            with self._out:
                self._outbox.extend(rest)
                self._out.notify()

    def _try_send(self, worker: _Worker, message: bytes) -> bool:
        """Write ``message`` unless another thread is writing to ``worker`` (never wait)."""
        if not worker.sending.acquire(blocking=False):
            return False
        try:
            worker.conn.send_bytes(message)
        except OSError:
            self.fail()
        finally:
            worker.sending.release()
        return True

    def _write(self) -> None:
        """The sending thread: write what the reader handed over, one message at a time."""
        while True:
            with self._out:
                while not self._outbox and not self.broken:
                    self._out.wait()
                if self.broken:
                    return
                sends = [self._outbox.popleft()]
            self._send(sends)

    def _send(self, sends: list[tuple[_Worker, bytes]]) -> None:
        """Outside the lock; one sender at a time per pipe, so messages never interleave."""
        for worker, message in sends:
            try:
                with worker.sending:
                    worker.conn.send_bytes(message)
            except OSError:
                self.fail()
                return

    def _read(self, worker: _Worker) -> None:
        """Take every answer of one worker; its pipe closing or a malformed answer breaks the pool.

        One reading thread per worker, blocked in its pipe's read: a single thread waiting on
        every pipe at once built a selector per answer, a fifth of the pool's interpreter time.
        """
        conn = worker.conn
        while True:
            try:
                answer = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own worker
                if answer[0] == "ready":
                    pid = answer[1]
                    if not isinstance(pid, int):
                        raise ValueError("malformed ready message")
                    with self._cond:
                        worker.pid = pid
                        sends = self._take()
                    self._hand_over(worker, sends)
                    continue
                task_id, ok, outcome = answer
                expected_type = (CheckResult, UsageError) if ok else (BaseException,)
                if type(task_id) is not int or not isinstance(outcome, expected_type):
                    raise ValueError("malformed answer")
            except Exception:
                # A worker that ended, at any time, or sent something unreadable (including
                # an exception whose unpickling itself raises), or the run closed the pipes
                # (``close``): whatever was not answered yet is lost (after a run, nothing is
                # left to lose). Never a dead reading thread, which would leave every waiting
                # thread waiting for ever.
                self.fail()
                return
            with self._cond:
                self.answered += 1
                # An answer for a file this worker was not given is malformed too.
                future = self._futures.pop(task_id, None) if worker.release(task_id) else None
                sends = self._take() if future is not None else []
            self._hand_over(worker, sends)
            if future is None:
                self.fail()
                return
            if isinstance(outcome, CheckResult | UsageError):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def fail(self) -> None:
        """A worker is gone: every unanswered file, and every later one, is lost."""
        with self._cond:
            self.broken = True
            lost = list(self._futures.values())
            self._futures.clear()
            self._queue.clear()
            self._cond.notify_all()
        with self._out:
            self._outbox.clear()
            self._out.notify_all()
        for future in lost:
            if not future.done():
                future.set_result(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reading and sending threads."""
        for thread in self._threads:
            thread.join(timeout)

    def close_pipes(self) -> None:
        """Close the run's end of every pipe (a worker still reading sees end of input)."""
        for worker in self._workers:
            worker.conn.close()


def _end_first_worker(pid: int) -> None:
    """SIGTERM the first worker, which kills and reaps the others (``_end_first``), and reap it.

    A first worker that does not end within a second is killed outright.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    reap(pid, within=1.0)


def reap(pid: int, *, within: float) -> None:
    """Wait up to ``within`` seconds for the child ``pid`` to exit, else kill it; reap it."""
    deadline = time.monotonic() + within
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.001)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class EarlyWorker:
    """A first worker and the run's ends of its pipes, not (or no longer) in a pool's hands.

    Forked as the run starts, not yet given a checker (``fork_early``); or forked by a pool
    that was interrupted while it started (``VerificationPool._give_up``).
    """

    def __init__(self, pid: int, conns: list[Connection]) -> None:
        self.pid = pid
        self.conns = conns
        """The run's end of each worker's pipe: the first one's, then those it forks later."""

    def discard(self) -> None:
        """End it: the run verifies without workers, or could not hand it its checker."""
        for conn in self.conns:
            conn.close()
        _end_first_worker(self.pid)


def close_in_workers(conn: Connection) -> None:
    """Have every worker forked from now on close ``conn`` (another child's pipe) at once."""
    _close_in_workers.append(conn)


def _close_inherited() -> None:
    for conn in _close_in_workers:
        with contextlib.suppress(OSError):
            conn.close()


def fork_early(processes: int, *, eager: bool) -> None:
    """Fork a lockfile run's first worker now, before the run imports and reads what it needs.

    Why: a cold run's first verdicts wait for the first worker to import sigstore and build the
    trust root (about half a second). Forked as the run starts, and with ``eager`` (the caller
    expects files to verify: no earlier verdicts) importing at once, that work overlaps the
    run's own start-up on the other core instead of following it. Without ``eager`` it imports
    on its first file, as a worker forked later would: a warm run that verifies nothing never
    pays for the import. ``VerificationPool`` adopts it (sending the checker, which it could
    not inherit: none existed yet) or ends it; ``discard_early`` ends it if nothing did.
    """
    global _early
    if _early is not None or processes < 1 or fork_unsafe_reason() is not None:
        return
    _early = EarlyWorker(*_fork_first(processes, None, eager=eager))


def _fork_first(
    processes: int, checker: AttestationChecker | None, *, eager: bool = False
) -> tuple[int, list[Connection]]:
    """Fork the first worker with a pipe for it and for each worker it forks later.

    Returns its pid and the run's end of every pipe. With ``checker`` it inherits it; without,
    it waits for one down its pipe (``fork_early``, ``_await_checker``).
    """
    global _worker_checker
    pipes = [Pipe(duplex=True) for _ in range(processes)]
    pid = os.fork()
    if pid == 0:
        _close_inherited()
        _worker_checker = checker
        for ours, _ in pipes:
            ours.close()
        later = [theirs for _, theirs in pipes[1:]]
        _run_worker(pipes[0][1], later, first=True, early=checker is None, eager=eager)
    for _, theirs in pipes:
        theirs.close()
    return pid, [ours for ours, _ in pipes]


def _take_early() -> EarlyWorker | None:
    global _early
    early, _early = _early, None
    return early


def discard_early() -> None:
    """End the early first worker if no pool adopted it (the run stopped before, or needed none)."""
    early = _take_early()
    if early is not None:
        early.discard()


def _sendable(checker: AttestationChecker) -> bool:
    """Whether ``checker`` travels down a pipe as its recipe (a root built on first use)."""
    staging = checker._staging
    return (
        type(checker) is AttestationChecker
        and isinstance(checker._verifier, DeferredVerifier)
        and (staging is None or type(staging) is StagingDetector)
    )


def _lost(filename: str) -> CheckResult:
    return CheckResult(
        check=Check.ATTESTATION,
        status=Status.UNREACHABLE,
        kind=EvidenceKind.ATTESTATIONS,
        subject=filename,
        message="a verification worker process exited unexpectedly or answered out of turn, so "
        "this file's attestations were not verified (rerun with --verify-processes 0 to verify "
        "in-process)",
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
        self._pool: _Pool | None = None
        self._first = 0
        early = _take_early()
        if processes <= 0:
            if early is not None:
                early.discard()
            return
        if early is not None:
            try:
                adopted = self._adopt(early, checker, processes)
            except BaseException:
                # Ctrl-C (or anything) while it is being taken: nothing else holds it now.
                self._give_up(early)
                raise
            if adopted:
                return
            early.discard()
        self.reason = fork_unsafe_reason()
        if self.reason is not None:
            _logger.info("verifying in-process: %s", self.reason)
            return
        # Frozen objects are never scanned by the workers' garbage collector, so the pages they
        # share with this process stay shared instead of being copied on the first collection;
        # nor by this process's: what exists now (modules, the policy, the lockfile) lives until
        # the run ends, and scanning it again at every collection of the run's many small
        # objects is wasted time.
        gc.freeze()
        self._first, conns = _fork_first(processes, checker)
        try:
            self._start(checker, conns)
        except BaseException:
            self._give_up(EarlyWorker(self._first, conns))
            raise

    def _give_up(self, first: EarlyWorker) -> None:
        """Interrupted while starting (Ctrl-C): nothing outlives the pool.

        No worker is left running and no thread stays on one core. Once the pool has started,
        ``close`` sees to both; before, ``first`` is ended here.
        """
        started = self._pool is not None
        self.close()
        if not started:
            first.discard()

    def _adopt(self, early: EarlyWorker, checker: AttestationChecker, processes: int) -> bool:
        """Hand ``early`` the checker and the number of workers; False if it cannot serve."""
        if processes > len(early.conns) or not _sendable(checker):
            return False
        try:
            early.conns[0].send_bytes(pickle.dumps((checker, processes)))
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            return False
        for extra in early.conns[processes:]:
            extra.close()
        gc.freeze()  # as for a fork now (above): what exists lives until the run ends
        self._first = early.pid
        self._start(checker, early.conns[:processes])
        return True

    def _start(self, checker: AttestationChecker, conns: list[Connection]) -> None:
        self._pool = _Pool([_Worker(conn) for conn in conns])
        self.processes = len(conns)
        self.checker = PooledAttestationChecker(checker, self._pool)
        _logger.info("verifying with %d worker processes", self.processes)
        # The workers exist (forked with every core); the run's threads now share one core
        # (see verifier.affinity) until ``close``, which restores them even if ``pin`` was
        # interrupted half way: the pool exists from here on.
        affinity.pin()

    def unanswered(self) -> bool:
        """Whether no worker has answered any file yet (the first is still starting)."""
        return self._pool is not None and self._pool.answered == 0

    def on_wait(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` whenever a thread is about to wait for a worker's answer."""
        if isinstance(self.checker, PooledAttestationChecker):
            self.checker.on_wait = hook

    def close(self) -> None:
        """End the workers at once, whether the run finished or was interrupted.

        A finished run has every answer, so the workers hold nothing worth waiting for (a
        first worker still building the trust root for a run that reused every verdict is not
        waited for either); an interrupted one (Ctrl-C, a bug) must not leave workers behind,
        and they ignore SIGINT. Threads still waiting for a verdict get "lost", never a pass.
        """
        pool = self._pool
        if pool is None:
            return
        # First, and before the pool is forgotten: interrupted, it is done again by the next
        # ``close``.
        affinity.restore()
        self._pool = None
        pool.fail()
        _end_first_worker(self._first)
        # The reading thread sees every pipe close with its worker; then the run's ends close.
        pool.join(timeout=1)
        pool.close_pipes()

    def __enter__(self) -> VerificationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
