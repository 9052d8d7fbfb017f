"""Keeping the run's own threads on one core while its verification workers use every core.

Why: the run's process is many threads that take turns at one interpreter lock, so it never
uses more than one core's worth of Python at a time; spread over every core by the scheduler,
each hand-over of the lock crosses cores (a wake-up sent to the other core, the lock's and the
objects' cache lines moved), and its threads keep pre-empting the workers on *both* cores,
evicting what they had in cache. Measured on the 2-core machine, the same 800 loopback GETs
from 8 threads cost 460 us of CPU each spread out and 220 us pinned to one core; a cold
200-package lockfile run used about 10% less CPU in all (run's process and workers), in
interleaved rounds (``benchmarks/README.md``).

Only a speed choice: nothing verified depends on it, and every failure to read or set an
affinity is ignored. The scheduler still moves everything else, including a busy neighbour,
off the core the run keeps; the workers, forked before the pinning, keep every core.
Processes the run starts while pinned (git) are given every core back at once
(``release_child``): a child inherits its parent thread's affinity.
"""

from __future__ import annotations

import contextlib
import os
import threading

_lock = threading.Lock()
_full: frozenset[int] | None = None
"""The process's cores before ``pin``; None while not pinned."""


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


def _set_all(cpus: frozenset[int]) -> None:
    for tid in _threads():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)


def pin() -> bool:
    """Keep every thread of this process, and those they start, on one of its cores.

    Returns whether it did: not on a single core (nothing to gain), nor where affinities
    cannot be read or set.
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
        _full = cores
        _set_all(frozenset({cpu if cpu in cores else min(cores)}))
        return True


def restore() -> None:
    """Give every thread its cores back (a no-op when not pinned)."""
    global _full
    with _lock:
        full, _full = _full, None
        if full is not None:
            _set_all(full)


def full_cores() -> frozenset[int] | None:
    """The process's cores as they were before ``pin``; None while not pinned."""
    return _full


def forked() -> None:
    """In a process just forked from a pinned one: take every core back, as ``release_child``.

    The pool's workers are forked before it pins; this keeps a process forked later (the
    writer, a worker) from inheriting one core, whatever the order.
    """
    global _full
    full, _full = _full, None
    if full is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, full)


def release_child(pid: int) -> None:
    """Give a child started while pinned every core of the run (it inherited one)."""
    full = _full
    if full is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, full)
