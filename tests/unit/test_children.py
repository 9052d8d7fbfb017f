"""Ctrl-C kills the children a run started, from whichever thread started them."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator

import pytest

from verifier import children

# A child that starts a grandchild: stop() must kill the whole group, not only the child.
SCRIPT = ["sh", "-c", "sleep 60 & wait"]


@pytest.fixture(autouse=True)
def _allow_children() -> Iterator[None]:
    children.reset()
    yield
    children.reset()


def start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(SCRIPT, stdin=subprocess.DEVNULL, start_new_session=True)


def test_stop_kills_a_child_waited_for_in_another_thread() -> None:
    process = start()
    waiting = threading.Event()
    codes: list[int] = []

    def wait() -> None:
        with children.tracked(process):
            waiting.set()
            codes.append(process.wait(timeout=30))

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait(timeout=10)
    assert children.stop() == 1
    thread.join(timeout=10)
    assert codes == [-9]


def test_a_child_started_after_stop_is_killed_at_once() -> None:
    children.stop()
    process = start()
    with children.tracked(process):
        assert process.wait(timeout=10) == -9


def test_an_interrupt_in_the_waiting_thread_kills_the_child() -> None:
    process = start()
    with pytest.raises(KeyboardInterrupt), children.tracked(process):
        raise KeyboardInterrupt
    assert process.wait(timeout=10) == -9


def test_a_child_that_finished_is_forgotten() -> None:
    process = subprocess.Popen(["true"], start_new_session=True)
    with children.tracked(process):
        assert process.wait(timeout=10) == 0
    assert children.stop() == 0
