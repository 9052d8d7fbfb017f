"""Cache entries written by a child process instead of the run's threads (cold lockfile runs).

Why this exists: a cold 200-package run writes about 1,200 cache entries (index pages, JSON API
answers, provenance objects, verdicts), each a few system calls (a temporary file, the write,
the rename, the folder check). Every one of those calls lets another of the run's threads take
the interpreter lock and then waits to take it back: measured on the lockfile benchmark, the
writes cost the run's process more CPU time than everything else it does for the index
together (about half of it), for what is a tenth of that in a process of its own. Here the run
hands each entry, already built and authenticated, to a writer forked when the run starts, in
batches; the writer writes each one exactly as the run would have (``store.EntryFiles``: whole
or not at all, never through a symlinked folder).

The run stays correct without it: an entry the writer could not take (it is gone) is written by
the run itself, and a cache entry that never reaches the disk is only a slower next run. The
run waits for the writer at its end, so a finished run's cache holds every entry, as before.
Only Linux forks it, and only from a single-threaded process (``workers.fork_unsafe_reason``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import signal
import socket
import struct
import threading
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import TYPE_CHECKING

from verifier import affinity

if TYPE_CHECKING:
    from verifier.store import EntryFiles

_logger = logging.getLogger(__name__)

BATCH_ENTRIES = 64
BATCH_BYTES = 512 * 1024
"""A batch goes to the writer when it holds this many entries or bytes (one send each)."""
CLOSE_SECONDS = 30.0
"""How long the end of a run waits for the writer to finish the entries it was handed."""

_CLOSE = b"close"


class BackgroundWrites:
    """The run's end of the writer: entries batched, then sent down one pipe."""

    def __init__(self, pid: int, conn: Connection) -> None:
        self.pid = pid
        self._conn = conn
        self._lock = threading.Lock()
        self._batch: list[tuple[str, str, str, bytes]] = []
        self._bytes = 0
        self._open = True
        # A writer that stops reading (a hung disk, a stopped process) must not hold a run's
        # thread, or its end, for ever: a send that makes no progress for this long fails.
        _send_timeout(conn, CLOSE_SECONDS)

    def submit(self, files: EntryFiles, key: str, data: bytes) -> bool:
        """Hand over one entry; False when the writer is gone (the caller writes it itself)."""
        with self._lock:
            if not self._open:
                return False
            self._batch.append((str(files.root), files.suffix, key, data))
            self._bytes += len(data)
            if len(self._batch) >= BATCH_ENTRIES or self._bytes >= BATCH_BYTES:
                self._flush()
            return True

    def _flush(self) -> None:
        """Under the lock: send the batch (in order: a later entry for a key wins)."""
        batch, self._batch, self._bytes = self._batch, [], 0
        if not batch:
            return
        try:
            self._conn.send_bytes(pickle.dumps(batch))
        except OSError as exc:
            self._open = False
            _logger.info("cache writer gone (%s): %d entries not cached", exc, len(batch))

    def close(self, patience: float = CLOSE_SECONDS) -> None:
        """Send what is left, wait until every entry is written, and reap the writer.

        Within about ``patience`` seconds (a send that stalls that long fails, then the answer
        is awaited that long): after that the writer is killed, and an entry it was writing
        then is left as a temporary file, never as an entry. Whatever interrupts the wait
        (Ctrl-C, SIGTERM) the writer is still killed and reaped: it never outlives the run.
        """
        summary = None
        try:
            with self._lock:
                _send_timeout(self._conn, patience)
                if self._open:
                    self._flush()
                if self._open:
                    try:
                        self._conn.send_bytes(_CLOSE)
                    except OSError:
                        self._open = False
                sent = self._open
                self._open = False
            if sent:
                with contextlib.suppress(OSError, EOFError, pickle.UnpicklingError):
                    if self._conn.poll(patience):
                        summary = pickle.loads(self._conn.recv_bytes())  # noqa: S301 - ours
        finally:
            self._conn.close()
            if summary is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            from verifier.workers import reap

            reap(self.pid, within=patience)
        if isinstance(summary, tuple) and len(summary) == 3 and summary[1]:
            _logger.info("not cached: %d entries (%s)", summary[1], summary[2])


def _send_timeout(conn: Connection, seconds: float) -> None:
    """Make a send on ``conn``'s socket that makes no progress for ``seconds`` fail (EAGAIN)."""
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(conn.fileno())) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


_writer: BackgroundWrites | None = None


def start() -> BackgroundWrites | None:
    """Fork the writer now (the run's process must be single-threaded); None if it cannot."""
    global _writer
    from verifier.workers import close_in_workers, fork_unsafe_reason

    if _writer is not None:
        return _writer
    if fork_unsafe_reason() is not None:
        return None
    ours, theirs = Pipe(duplex=True)
    pid = os.fork()
    if pid == 0:
        ours.close()
        _run_writer(theirs)
    theirs.close()
    close_in_workers(ours)
    _writer = BackgroundWrites(pid, ours)
    _logger.info("cache entries are written by a background process")
    return _writer


def current() -> BackgroundWrites | None:
    """The writer ``start`` forked for this run, if any."""
    return _writer


def finish(patience: float = CLOSE_SECONDS) -> None:
    """End of the run: every entry handed over is written before this returns.

    An interrupted run passes a short ``patience``: Ctrl-C must not wait on a slow disk.
    """
    global _writer
    writer, _writer = _writer, None
    if writer is not None:
        writer.close(patience)


def _run_writer(conn: Connection) -> None:
    """The writer's whole life: never returns, never runs the run's exit handlers."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run ends it (``close``)
        affinity.forked()
        _serve(conn)
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _serve(conn: Connection) -> None:
    from verifier.errors import UnwritableFile
    from verifier.store import EntryFiles

    directories: dict[tuple[str, str], EntryFiles] = {}
    failed = 0
    reason = ""
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the run is gone: nothing more to write, nobody to tell
        if message == _CLOSE:
            break
        for root, suffix, key, data in pickle.loads(message):  # noqa: S301 - from the run
            files = directories.get((root, suffix))
            if files is None:
                files = directories[(root, suffix)] = EntryFiles(Path(root), suffix)
            try:
                files.write(key, functools.partial(tuple, (data,)))
            except (OSError, UnwritableFile) as exc:
                failed += 1
                if not reason:
                    reason = (exc.strerror if isinstance(exc, OSError) else exc.message) or "?"
    conn.send_bytes(pickle.dumps(("done", failed, reason or "")))
