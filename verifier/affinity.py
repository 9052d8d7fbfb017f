"""Keeping the run's own threads on one core while its verification workers use every core.

Why: the run's process is many threads that take turns at one interpreter lock, so it never
uses more than one core's worth of Python at a time; spread over every core by the scheduler,
each hand-over of the lock crosses cores (a wake-up sent to the other core, the lock's and the
objects' cache lines moved), and its threads keep pre-empting the workers on *both* cores,
evicting what they had in cache. Measured on the 2-core machine, the same 800 loopback GETs
from 8 threads cost 460 us of CPU each spread out and 220 us pinned to one core; a cold
200-package lockfile run used about 5% less CPU in all (run's process and workers), in
interleaved rounds (``benchmarks/README.md``).

Only a speed choice: nothing verified depends on it, and every failure to read or set an
affinity is ignored. The scheduler still moves everything else, including a busy neighbour,
off the core the run keeps; the workers, forked before the pinning, keep every core. A process
the run starts while pinned is started from a thread that has its cores back for the moment
(``spawning``), since a child inherits its parent thread's affinity, and so does everything the
child starts. ``restore`` gives each thread the cores it had before ``pin``, not the caller's.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator

_lock = threading.Lock()
_full: frozenset[int] | None = None
"""The calling thread's cores when ``pin`` ran (the run's); None while not pinned."""
_saved: dict[int, frozenset[int]] = {}
"""Each thread's own cores before ``pin``, by thread id: ``restore`` puts them back."""

_ROUNDS = 100
"""Listings of the threads ``pin`` and ``restore`` make at most: each sets the threads that the
one before did not list (started meanwhile by a thread not set yet), until none is new."""


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except (OSError, ValueError):
        return []


def _current_cpu() -> int | None:
    """The core the calling thread ran on last, or None."""
    try:
        with open("/proc/thread-self/stat", "rb") as handle:
            return processor_field(handle.read())
    except OSError:
        return None


def processor_field(stat: bytes) -> int | None:
    """Field 39 (``processor``) of a ``/proc/.../stat`` line, or None if it has none.

    The command name (field 2, in parentheses) may itself hold spaces and parentheses, so
    fields are counted from the last ``)``.
    """
    try:
        return int(stat.rpartition(b")")[2].split()[36])
    except (ValueError, IndexError):
        return None


def _each_thread(apply: Callable[[int], None]) -> None:
    """``apply`` to every thread, and to every thread started meanwhile, until none is new."""
    done: set[int] = set()
    for _ in range(_ROUNDS):
        new = [tid for tid in _threads() if tid not in done]
        if not new:
            return
        for tid in new:
            done.add(tid)
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                apply(tid)


def _pin_thread(tid: int, cpu: frozenset[int]) -> None:
    _saved.setdefault(tid, frozenset(os.sched_getaffinity(tid)))
    os.sched_setaffinity(tid, cpu)


def pin() -> bool:
    """Keep every thread of this process, and those they start, on one of its cores.

    Returns whether it did: not on a single core (nothing to gain), nor where affinities
    cannot be read or set. Once it returns True, or raises, ``restore`` undoes what it did.
    """
    global _full
    if not hasattr(os, "sched_setaffinity"):
        return False
    with _lock:
        if _full is not None:
            return True
        try:
            cores = frozenset(os.sched_getaffinity(0))
        except OSError:
            return False
        if len(cores) < 2:
            return False
        cpu = _current_cpu()
        one = frozenset({cpu if cpu in cores else min(cores)})
        _full = cores  # first: an interruption from here on leaves something to restore
        _each_thread(lambda tid: _pin_thread(tid, one))
        return True


def restore() -> None:
    """Give every thread the cores it had before ``pin`` (a no-op when not pinned).

    A thread started while pinned gets the run's cores. Interrupted (Ctrl-C), it leaves the
    process marked as pinned, so that the next call finishes the job.
    """
    global _full
    with _lock:
        full = _full
        if full is None:
            return
        _each_thread(lambda tid: os.sched_setaffinity(tid, _saved.get(tid, full)))
        _saved.clear()
        _full = None


def full_cores() -> frozenset[int] | None:
    """The run's cores as they were before ``pin``; None while not pinned."""
    return _full


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """Around starting a process: the calling thread has the run's cores, then one again.

    A child inherits the affinity of the thread that forks it, and its own children inherit
    the child's: set after the child started, some of them would already be on one core.
    Affinity is per thread, so the run's other threads stay where they are meanwhile.
    """
    with _lock:
        full = _full
        own: frozenset[int] | None = None
        if full is not None:
            with contextlib.suppress(OSError):
                own = frozenset(os.sched_getaffinity(0))
                os.sched_setaffinity(0, full)
    try:
        yield
    finally:
        if own is not None:
            with _lock:
                if _full is not None:  # still pinned (``restore`` did not run meanwhile)
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(0, own)


def forked() -> None:
    """In a process just forked from a pinned one: take the run's cores back.

    The pool's workers and the writer are forked before it pins; this keeps one forked later
    from inheriting a single core, whatever the order.
    """
    global _full
    full, _full = _full, None
    _saved.clear()
    if full is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, full)
