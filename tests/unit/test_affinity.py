"""``verifier.affinity``: the run's threads on one core, and every core back for what it starts.

Each test pins and restores the test process itself; ``restore`` runs in ``finally`` so that a
failing test never leaves the test runner on one core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from tests.pinning import thread_masks
from verifier import affinity, workers

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs a process allowed on two cores or more",
)


def test_pin_puts_every_thread_and_every_later_one_on_one_core(cores: set[int]) -> None:
    stop = threading.Event()
    before = threading.Thread(target=stop.wait)
    before.start()
    try:
        assert affinity.pin()
        pinned = thread_masks()
        (only,) = {frozenset(mask) for mask in pinned.values()}
        assert len(only) == 1
        assert only <= cores
        seen: list[set[int]] = []
        later = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        later.start()
        later.join()
        assert seen == [set(only)]  # a thread started while pinned inherits the one core
        # What the run asks while pinned is still the process's own count of cores.
        assert affinity.full_cores() == frozenset(cores)
        assert workers.available_cores() == len(cores)
    finally:
        affinity.restore()
        stop.set()
        before.join()
    assert affinity.full_cores() is None
    assert all(mask == cores for mask in thread_masks().values())


def test_pinning_twice_is_one_pin_and_restore_without_pin_does_nothing(cores: set[int]) -> None:
    affinity.restore()
    assert os.sched_getaffinity(0) == cores
    assert affinity.pin()
    assert affinity.pin()
    affinity.restore()
    assert os.sched_getaffinity(0) == cores


def test_a_single_core_is_left_as_it_is(cores: set[int]) -> None:
    one = {min(cores)}
    os.sched_setaffinity(0, one)
    assert not affinity.pin()
    assert affinity.full_cores() is None
    assert os.sched_getaffinity(0) == one


def test_a_child_started_while_pinned_gets_every_core_back(cores: set[int]) -> None:
    assert affinity.pin()
    with affinity.spawning():
        assert os.sched_getaffinity(0) == cores
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert os.sched_getaffinity(process.pid) == cores
        assert len(os.sched_getaffinity(0)) == 1  # the starting thread is back on one core
    finally:
        process.kill()
        process.wait()
    affinity.restore()
    with affinity.spawning():  # not pinned: nothing to do
        assert os.sched_getaffinity(0) == cores
    assert os.sched_getaffinity(0) == cores


def test_a_process_forked_while_pinned_takes_every_core_back(cores: set[int]) -> None:
    assert affinity.pin()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            affinity.forked()
            mask = os.sched_getaffinity(0)
            os.write(write, ",".join(map(str, sorted(mask))).encode())
            code = 0 if affinity.full_cores() is None else 1
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as handle:
        reported = {int(c) for c in handle.read().decode().split(",")}
    assert os.waitstatus_to_exitcode(status) == 0
    assert reported == cores
    assert len(os.sched_getaffinity(0)) == 1  # this process is still pinned


def test_the_core_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    rest = " ".join(str(n) for n in range(3, 39))  # fields 3 to 38, then the processor (39)
    assert affinity.processor_field(f"42 (a) b (c)) {rest} 7 0 0".encode()) == 7
    assert affinity.processor_field(b"42 (short) S 1 2") is None
    assert affinity.processor_field(b"no parenthesis at all") is None
    assert affinity._current_cpu() in os.sched_getaffinity(0)
