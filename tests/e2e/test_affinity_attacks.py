"""Red team round 6: Ctrl-C while ``VerificationPool`` pins must leave no thread on one core.

Run in a fresh interpreter (workers fork only from a single thread).
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.e2e.test_pool_affinity import POOL_SETUP
from tests.e2e.test_workers import run_script

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="worker processes are forked on Linux only; pinning needs two cores",
)

_SCRIPT = (
    POOL_SETUP
    + """
    real = affinity._pin_thread
    def pin_then_ctrl_c(tid, cpu):
        real(tid, cpu)
        affinity._pin_thread = real
        raise KeyboardInterrupt  # Ctrl-C lands in pin(), after a thread was set
    affinity._pin_thread = pin_then_ctrl_c
    try:
        with workers.VerificationPool(checker, 2) as pool:
            pass
    except KeyboardInterrupt:
        pass
    print("cores", ",".join(map(str, cores)))
    print("after", ",".join(map(str, sorted(os.sched_getaffinity(0)))))
    print("next", workers.default_processes(10_000))
    import glob
    kids = 0
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        try:
            with open(path) as handle:
                kids += len(handle.read().split())
        except FileNotFoundError:
            continue  # a thread that ended since the listing (the pool's reading threads)
    print("children", kids)
"""
)


@pytest.mark.parametrize("how", ["early", "forked by the pool"])
def test_ctrl_c_while_the_pool_pins_leaves_no_thread_on_one_core(how: str) -> None:
    done = run_script(_SCRIPT, how, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
    assert shown["after"] == shown["cores"]


def test_ctrl_c_while_the_pool_pins_leaves_no_worker_running() -> None:
    """Not affinity itself, but the window ``pin`` adds at the end of ``_start``: on the path that
    forks its own workers, ``__init__`` has no cleanup, so the first worker outlives the pool."""
    done = run_script(_SCRIPT, "forked by the pool", timeout=120)
    assert done.returncode == 0, done.stderr
    shown = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
    assert shown["children"] == "0"
