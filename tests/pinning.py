"""Helpers for the tests of ``verifier.affinity``: each thread's cores, and putting them back."""

from __future__ import annotations

import os

from verifier import affinity


def thread_masks() -> dict[int, set[int]]:
    """Each live thread's cores (a thread that ended meanwhile is left out)."""
    masks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            masks[int(tid)] = os.sched_getaffinity(int(tid))
        except ProcessLookupError:
            continue
    return masks


def unpin_all(cores: set[int]) -> None:
    """After a test: ``restore``, then every thread on ``cores`` whatever the test did."""
    affinity.restore()
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:
            continue
