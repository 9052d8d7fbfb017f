"""The child processes (git, pip-audit) a run has running, so that Ctrl-C can kill them.

Why this exists: children run in sessions of their own (so that a timeout kills everything they
started), which also keeps the terminal's Ctrl-C from reaching them; and in a lockfile run they
are started from pool threads, where no ``KeyboardInterrupt`` is ever raised. Without this
registry an interrupted run exited while git kept fetching and pip-audit kept auditing.

``stop`` kills every registered child and every child registered after it, so a thread that was
about to start git when Ctrl-C came cannot leave one behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_live: set[subprocess.Popen[bytes]] = set()
_stopping = False


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a child and everything it started (it leads a process group of its own)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


@contextmanager
def tracked(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Register ``process`` while the block runs; kill it if the block is interrupted.

    An exception out of the block (Ctrl-C in the thread waiting for the child) leaves no child
    running. After ``stop``, a newly started child is killed at once.
    """
    with _lock:
        _live.add(process)
        stopping = _stopping
    if stopping:
        kill_group(process)
    try:
        yield
    except BaseException:
        if process.poll() is None:
            kill_group(process)
        raise
    finally:
        with _lock:
            _live.discard(process)


def stop() -> int:
    """Kill every running child, and every child started from now on; how many were killed."""
    global _stopping
    with _lock:
        _stopping = True
        running = list(_live)
    for process in running:
        kill_group(process)
    return len(running)


def reset() -> None:
    """Allow children again (for a new run in the same process, e.g. a test)."""
    global _stopping
    with _lock:
        _stopping = False
