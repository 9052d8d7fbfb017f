"""Attacks on the helper processes: the background writer and the early worker.

``verifier.writer`` and ``verifier.workers.fork_early``; each test is a hole a red-team round
found (round 4 of the speed work), kept under the rule it now states.

Each scenario runs in a fresh interpreter of its own (helpers fork only from a single thread)
and in its own session (``run_script``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.test_workers import run_script

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="helper processes are forked on Linux only"
)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


_STUCK_WRITER = """
    import os, signal, sys, time
    from pathlib import Path
    from verifier import writer
    from verifier.store import EntryFiles

    root = Path(sys.argv[1])
    background = writer.start()
    print("pid", background.pid, flush=True)
    files = EntryFiles(root, ".entry")
    # 63 entries of 8000 bytes: under BATCH_ENTRIES and BATCH_BYTES, so nothing is sent yet;
    # finish() sends them as one 504,000-byte message, more than a socket buffer holds.
    for n in range(63):
        assert background.submit(files, "ab%062d" % n, b"x" * 8000)
    # The writer stops reading: a cache on a hung NFS mount, a writer stopped or descheduled.
    os.kill(background.pid, signal.SIGSTOP)

    def hung(signum, frame):
        print("hung", flush=True)
        os.kill(background.pid, signal.SIGKILL)  # it holds our stdout: end it for the test
        os._exit(0)

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    start = time.monotonic()
    writer.finish(patience=1.0)  # the Ctrl-C path of run.verify (INTERRUPTED_PATIENCE)
    signal.alarm(0)
    print("finished", round(time.monotonic() - start), flush=True)
    try:
        os.kill(background.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # reaped by finish()
"""


def test_an_interrupted_run_never_waits_longer_than_its_patience_for_the_writer(
    tmp_path: Path,
) -> None:
    # Attack: the writer stops draining its pipe while the run still holds a batch bigger than
    # the socket buffer. BackgroundWrites.close() sends that batch with a blocking send_bytes
    # under its lock before it ever looks at ``patience``: Ctrl-C (patience 1 s) and the normal
    # end (30 s) both hang for ever, and so does every run thread that calls submit() meanwhile
    # (it waits on the same lock, or itself blocks in _flush).
    done = run_script(_STUCK_WRITER, str(tmp_path / "cache"), timeout=60)
    lines = done.stdout.splitlines()
    pid = int(lines[0].split()[1])
    _kill(pid)
    assert done.returncode == 0, done.stderr
    assert lines[1].split()[0] == "finished", lines
    assert int(lines[1].split()[1]) <= 3, lines


_SYMLINKED_STORE = """
    import sys
    from pathlib import Path
    from verifier import writer
    from verifier.store import ResponseStore

    cache = Path(sys.argv[1])
    background = writer.start()
    store = ResponseStore(cache / "http", mac_key=b"k" * 32)
    store.writes = background
    for n in range(3):
        store.save("ab%062d" % n, url="https://pypi.org/simple/x/", status=200,
                   content_type="text/html", etag=None, cache_control=None, body=b"page")
    writer.finish()
    print("done", flush=True)
"""


def test_a_planted_store_folder_symlink_never_has_the_writer_write_outside_the_cache(
    tmp_path: Path,
) -> None:
    # Attack (a poisoned CI cache tarball, the threat ``store.shard_folder`` names): the shard
    # folders are checked for symlinks, but the level above them is not. A tarball that plants
    # CACHE/http (or CACHE/verdicts) as a symlink has every entry, and every shard folder,
    # created wherever it points: the background writer (and the in-process write it falls back
    # to) follow it, exactly as ``ResponseStore._write`` did before the writer existed.
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    cache.mkdir()
    elsewhere.mkdir()
    (cache / "http").symlink_to(elsewhere, target_is_directory=True)
    done = run_script(_SYMLINKED_STORE, str(cache), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done"]
    assert sorted(p.name for p in elsewhere.rglob("*")) == []


_CTRL_C_DURING_ADOPTION = """
    import functools, time
    from verifier import workers
    from verifier.checks.attestations import AttestationChecker
    from verifier.trust import PRODUCTION_TUF_URL, DeferredVerifier, _embedded, _parse_custom

    workers.fork_early(2, eager=False)
    early = workers._early.pid
    root = _embedded(PRODUCTION_TUF_URL, "trusted_root.json")
    deferred = DeferredVerifier(functools.partial(_parse_custom, root, root.read_bytes()))
    checker = AttestationChecker(deferred, staging=None)

    def ctrl_c(*args):  # SIGINT delivered at this bytecode: after _take_early, before adoption
        raise KeyboardInterrupt

    workers._sendable = ctrl_c
    try:
        try:
            with workers.VerificationPool(checker, 2):
                pass
        finally:
            workers.discard_early()  # what run.verify's finally does
            try:
                during = open(f"/proc/{early}/stat").read().split()[2]
            except FileNotFoundError:
                during = "gone"
    except KeyboardInterrupt:
        pass
    time.sleep(0.5)
    try:
        after = open(f"/proc/{early}/stat").read().split()[2]
    except FileNotFoundError:
        after = "gone"
    print(during, after, flush=True)
"""


def test_ctrl_c_while_the_pool_takes_the_early_worker_still_ends_it() -> None:
    # Attack: Ctrl-C lands inside VerificationPool.__init__ after ``_take_early()`` cleared
    # ``workers._early`` but before ``_adopt`` finished (or anything else there raises). The
    # pool is never entered, so close() never runs, and run.verify's ``discard_early()``
    # finds nothing to end: the early worker stays alive while the exception (its traceback
    # holds the ``early`` local and so its pipes) propagates, then exits unreaped (a zombie,
    # for ever in a process that embeds ``run.verify``).
    done = run_script(_CTRL_C_DURING_ADOPTION, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gone", "gone"], done.stdout


_CTRL_C_WHILE_FINISHING = """
    import os, signal, sys
    from pathlib import Path
    from verifier import writer
    from verifier.store import EntryFiles

    background = writer.start()
    files = EntryFiles(Path(sys.argv[1]), ".entry")
    for n in range(10):
        background.submit(files, "ab%062d" % n, b"entry")
    # The writer is still busy with the run's last entries (here: held still, so that the
    # test does not depend on a disk's speed) when the user presses Ctrl-C during the
    # normal end of the run (run.verify's last ``writer.finish()``, up to 30 s of waiting).
    os.kill(background.pid, signal.SIGSTOP)

    def ctrl_c(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, ctrl_c)
    signal.alarm(1)
    try:
        writer.finish()
    except KeyboardInterrupt:
        pass
    try:
        state = open(f"/proc/{background.pid}/stat").read().split()[2]
    except FileNotFoundError:
        state = "gone"
    print(state, flush=True)
    if state != "gone":
        os.kill(background.pid, signal.SIGKILL)  # for the test: it holds our stdout
"""


def test_ctrl_c_while_the_run_waits_for_its_writer_still_ends_the_writer(tmp_path: Path) -> None:
    # Attack: Ctrl-C (or SIGTERM, atomic.Terminated) arriving while BackgroundWrites.close()
    # waits in ``poll(patience)`` at the end of a normal run. The exception leaves close()
    # before its SIGKILL and ``_reap``; ``writer._writer`` is already None, so nothing ends it
    # later: the writer outlives the run, still writing into the cache (and holding the run's
    # stdout/stderr, so a CI step reading them waits for it).
    done = run_script(_CTRL_C_WHILE_FINISHING, str(tmp_path / "cache"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gone"], done.stdout
