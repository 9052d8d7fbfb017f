"""The worker pool against answers it cannot read, dead workers and large messages.

Found by red teams after the speed pass; each test failed on the code it was written against.

Run as a subprocess, as tests/e2e/test_workers.py does: workers fork only from a process with
a single thread.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.e2e.test_workers import run_script

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only"
)

_SCRIPT = textwrap.dedent(
    """
    import sys, types
    from verifier.checks.attestations import AttestationChecker
    from verifier.workers import VerificationPool

    class Odd(Exception):
        # An exception whose constructor reads an attribute of its argument (as many library
        # errors built from a response do). Pickled, it is (Odd, ("boom",)); unpickled in the
        # run, Odd("boom") raises AttributeError.
        def __init__(self, response):
            super().__init__(response.text)

    class Buggy(AttestationChecker):
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            if filename == "odd.tar.gz":
                raise Odd(types.SimpleNamespace(text="boom"))
            return self.missing(filename, "no provenance (test)")

    with VerificationPool(Buggy(None, staging=None), 1) as pool:
        assert pool.processes == 1, pool.reason
        for name in ("first.tar.gz", "odd.tar.gz"):
            try:
                result = pool.checker.check_provenance(
                    b"", filename=name, digest="0" * 64, expected=None
                )
                print(name, result.status.value, flush=True)
            except Exception as exc:
                print(name, "raised", type(exc).__name__, flush=True)
    """
)


def test_an_exception_the_run_cannot_unpickle_does_not_hang_the_run() -> None:
    """``_Pool._read`` catches only EOFError, OSError, ValueError, TypeError and
    UnpicklingError around ``pickle.loads``. A worker-side exception whose reconstruction
    raises anything else (AttributeError, KeyError, IndexError, an import error ...) kills the
    reading thread without ``fail()``: no later answer is read, no future is resolved, and every
    thread waiting for a verdict (here the only one) waits for ever."""
    try:
        done = run_script(_SCRIPT, timeout=30)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the run hung on the worker's answer (stderr: {exc.stderr!r:.400})")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("first.tar.gz"), done.stderr
    assert len(lines) == 2, done.stderr
    assert "passed" not in lines[1]
    assert "proven" not in lines[1].lower()


# -- round 3: a garbled task id, a dead first worker, large answers --------------------------------

_GARBLED = """
    import pickle
    from verifier import workers
    from verifier.checks.attestations import AttestationChecker
    from verifier.workers import VerificationPool

    # A garbled worker (set before the fork, so the worker has it): the answer names its task
    # with an unhashable value. Everything else about the answer is well formed.
    workers._answer = lambda task_id, outcome, *, ok: pickle.dumps(([task_id], ok, outcome))

    class Fake(AttestationChecker):
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            return self.missing(filename, "no provenance (test)")

    with VerificationPool(Fake(None, staging=None), 1) as pool:
        assert pool.processes == 1, pool.reason
        result = pool.checker.check_provenance(
            b"", filename="a.tar.gz", digest="0" * 64, expected=None
        )
        print("a.tar.gz", result.status.value, flush=True)
"""


def test_a_garbled_task_id_does_not_kill_the_reader_and_hang_the_run() -> None:
    """``_Pool._read`` guards unpickling and the answer's shape with ``except Exception``, but
    ``task_id in worker.held`` (and the ``_futures.pop``) run after that ``try``. An answer
    whose task id is unhashable (or whose ``__hash__``/``__eq__`` raises) raises TypeError
    there: the reading thread dies without ``fail()``, and every thread waiting for a verdict
    waits for ever (here the only one: the run never ends)."""
    try:
        done = run_script(_GARBLED, timeout=20)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the run hung on a garbled answer (stderr: {exc.stderr!r:.600})")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["a.tar.gz", "unreachable"], done.stdout + done.stderr


_ORPHAN = """
    import os, signal, time
    from verifier.checks.attestations import AttestationChecker
    from verifier.workers import VerificationPool

    RUN = os.getpid()

    class Fake(AttestationChecker):
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            if filename == "second.tar.gz":
                if os.getppid() == RUN:  # the first worker: dies (the OOM killer, a crash)
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(20)  # a worker the first one forked: a slow file
            return self.missing(filename, "no provenance (test)")

    with VerificationPool(Fake(None, staging=None), 2) as pool:
        assert pool.processes == 2, pool.reason
        inner = pool._pool
        pool.checker.check_provenance(b"", filename="first.tar.gz", digest="0" * 64, expected=None)
        for _ in range(2000):
            if all(w.pid is not None for w in inner._workers):
                break
            time.sleep(0.005)
        sibling = inner._workers[1].pid
        # One file to each worker (the least held first): the first dies, the sibling is slow.
        lost = [inner.submit((b"", "second.tar.gz", "0" * 64, None, True)) for _ in range(2)]
        print("lost", [f.result(timeout=10) for f in lost], flush=True)
    time.sleep(0.5)  # close() has returned; give a killed process time to go
    try:
        with open(f"/proc/{sibling}/stat") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        state = "gone"
    print("sibling", sibling, state, flush=True)
    if state != "gone":
        os.kill(sibling, signal.SIGKILL)  # the test's own cleanup
"""


def test_a_dead_first_worker_leaves_no_worker_running_after_close() -> None:
    """``close()`` SIGTERMs only the first worker, whose handler kills the workers it forked.
    When the first worker is the one that died (the failure this pool exists to survive), no
    handler runs: the workers it forked are reparented to init and keep verifying after the
    run's ``close()`` returned (one stops only when its current file is done and its answer hits
    a closed pipe; a worker stuck on hostile input never does). They are not the run's children,
    so nothing in the run kills or reaps them. (A killed worker left as a zombie for init to
    reap counts as gone: only the first worker could reap it.)"""
    done = run_script(_ORPHAN, timeout=40)
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    assert lines[0] == "lost [None, None]", done.stdout + done.stderr
    assert lines[-1].endswith((" gone", " Z")), f"a worker outlived close(): {lines[-1]!r}"


_BIG = """
    import threading
    from verifier.checks.attestations import AttestationChecker
    from verifier.workers import VerificationPool

    class Fake(AttestationChecker):
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            # A result that carries a large hostile string (see the test's docstring).
            return self.missing(filename, "x" * 1_000_000)

    with VerificationPool(Fake(None, staging=None), 1) as pool:
        assert pool.processes == 1, pool.reason
        done = []

        def one(number):
            result = pool.checker.check_provenance(
                b"p" * 1_000_000, filename=f"f{number}", digest="0" * 64, expected=None
            )
            done.append(result.subject)

        threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print("done", *sorted(done), flush=True)
"""


def test_a_large_answer_and_a_large_file_do_not_deadlock_the_reader_and_its_worker() -> None:
    """The reading thread sends queued files itself (``_Pool._read`` -> ``_send``), blocking.
    One worker, three files of 1 MB (provenance is read up to ``MAX_PROVENANCE_BYTES``, 2 MB,
    so a hostile index can pad it): the worker answers file 1 and starts file 2; the reader
    reads answer 1 and sends file 3, which blocks until the worker reads it; the worker
    finishes file 2 and blocks sending answer 2, which the reader, stuck in its send, never
    reads. Both wait for ever, and so does every thread waiting for a verdict. An answer larger
    than the socket buffer (~200 KB) is reachable: a verified file's result keeps PyPI's
    publisher record whole (``publisher_record``: every key, as strings), and that record is
    unsigned index metadata, as large as the index makes it (reachability argued, not shown
    here with a signed attestation)."""
    try:
        done = run_script(_BIG, timeout=30)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the reader and its worker deadlocked (stderr: {exc.stderr!r:.600})")
    assert done.stdout.split() == ["done", "f0", "f1", "f2"], done.stdout + done.stderr


_LARGE_FILE_QUEUED_BEHIND_SMALL_ONES = """
    import threading, time
    from verifier.checks.attestations import AttestationChecker
    from verifier.workers import VerificationPool

    class Fake(AttestationChecker):
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            if filename == "f0":
                time.sleep(0.5)  # until the large file waits in the queue
            return self.missing(filename, "x" * 1_000_000)

    with VerificationPool(Fake(None, staging=None), 1) as pool:
        assert pool.processes == 1, pool.reason
        done = []

        def one(number, size):
            result = pool.checker.check_provenance(
                b"p" * size, filename=f"f{number}", digest="0" * 64, expected=None
            )
            done.append(result.subject)

        threads = [threading.Thread(target=one, args=(n, 1_000)) for n in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)  # both small files are held by the worker; the large one is queued
        threads.append(threading.Thread(target=one, args=(2, 1_000_000)))
        threads[-1].start()
        for thread in threads:
            thread.join()
    print("done", *sorted(done), flush=True)
"""


def test_a_reader_never_writes_a_file_that_could_block_it() -> None:
    """The reading thread writes its worker's next file itself only while all the worker holds
    fits a quarter of the pipe's buffer (``_Pool._hand_over``, ``_direct_budget``). Here the
    worker holds two small files when the reader, taking answer 1, would write a queued 1 MB
    file: written by the reader, it would block as soon as the worker, answering the second
    small file with 1 MB, stopped reading; the reader, stuck in that write, would never read
    the answer, and both would wait for ever. Over the budget, the sending thread writes it."""
    try:
        done = run_script(_LARGE_FILE_QUEUED_BEHIND_SMALL_ONES, timeout=30)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the reader and its worker deadlocked (stderr: {exc.stderr!r:.600})")
    assert done.stdout.split() == ["done", "f0", "f1", "f2"], done.stdout + done.stderr
