"""Admission: --jobs packages in flight, one more for each thread waiting for a verdict."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any

import pytest

from verifier.pipeline import STARTING, Admission


class Tracker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.started: list[int] = []
        self.threads: set[int] = set()

    def enter(self, item: int) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.started.append(item)
            self.threads.add(threading.get_ident())

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def test_a_run_that_waits_for_nothing_keeps_jobs_in_flight() -> None:
    tracker = Tracker()
    gate = threading.Barrier(3, timeout=5)

    def fn(item: int) -> int:
        tracker.enter(item)
        try:
            if item < 3:
                gate.wait()  # the first three run together: three were let in
            return item * 10
        finally:
            tracker.leave()

    with ThreadPoolExecutor(max_workers=64) as pool:
        admission = Admission(pool, fn, range(50), jobs=3)
        assert admission.results() == [item * 10 for item in range(50)]
    assert tracker.most == 3
    # A runner that finishes a package takes the next itself: three threads did all fifty.
    assert len(tracker.threads) == 3


def test_each_wait_for_a_verdict_lets_one_more_package_in() -> None:
    # Every package waits for a "verdict" that only comes once all ten are in flight: with
    # jobs=2 and no admission on waiting, this would deadlock (and time out).
    tracker = Tracker()
    all_in = threading.Event()
    admission: Admission[int, int]

    def fn(item: int) -> int:
        tracker.enter(item)
        if tracker.most == 10:
            all_in.set()
        admission.waiting()
        assert all_in.wait(5), "the packages waiting for verdicts held the others back"
        tracker.leave()
        return item

    with ThreadPoolExecutor(max_workers=64) as pool:
        admission = Admission(pool, fn, range(10), jobs=2)
        assert admission.results() == list(range(10))
    assert tracker.most == 10
    assert sorted(tracker.started) == list(range(10))


def test_the_first_exception_is_raised_and_the_rest_still_run() -> None:
    ran: list[int] = []

    def fn(item: int) -> int:
        ran.append(item)
        if item == 2:
            raise ValueError("package 2")
        return item

    with ThreadPoolExecutor(max_workers=4) as pool:
        admission = Admission(pool, fn, range(6), jobs=1)
        with pytest.raises(ValueError, match="package 2"):
            admission.results()
    assert sorted(ran) == list(range(6))


def test_after_stop_nothing_more_is_admitted_and_the_results_are_cancelled() -> None:
    release = threading.Event()
    ran: list[int] = []
    outcome: list[BaseException] = []

    def fn(item: int) -> int:
        ran.append(item)
        release.wait(5)
        return item

    with ThreadPoolExecutor(max_workers=4) as pool:
        admission = Admission(pool, fn, range(6), jobs=2)

        def collect() -> None:
            try:
                admission.results()
            except BaseException as exc:  # the outcome is what is tested
                outcome.append(exc)

        collector = threading.Thread(target=collect)
        collector.start()
        while len(ran) < 2:
            time.sleep(0.01)
        admission.stop()
        release.set()
        collector.join(5)
    assert sorted(ran) == [0, 1]
    assert [type(exc) for exc in outcome] == [CancelledError]


@pytest.mark.parametrize("starting", [False, True])
def test_waits_let_in_at_most_cap_runners_unless_no_verdict_can_come_yet(starting: bool) -> None:
    # Every package waits until released. With a cap of 4, only 4 are ever in flight; while
    # ``uncapped()`` says no verdict has come back yet (the first worker is still starting),
    # every wait lets one more in, so the run's process keeps asking the index: up to STARTING
    # times the cap (here 40 packages, 16 let in), never one thread per package.
    tracker = Tracker()
    release = threading.Event()
    admission: Admission[int, int]

    def fn(item: int) -> int:
        tracker.enter(item)
        admission.waiting()
        assert release.wait(5)
        tracker.leave()
        return item

    with ThreadPoolExecutor(max_workers=64) as pool:
        admission = Admission(pool, fn, range(40), jobs=2, cap=4, uncapped=lambda: starting)
        collector = threading.Thread(target=admission.results)
        collector.start()
        deadline = time.monotonic() + 5
        want = 4 * STARTING if starting else 4
        while tracker.most < want and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # any runner beyond the cap would be in by now
        most = tracker.most
        release.set()
        collector.join(5)
    assert most == want


@pytest.mark.parametrize("waits", [False, True])
def test_a_run_started_on_one_runner_grows_only_as_its_threads_wait_for_the_network(
    waits: bool,
) -> None:
    # start=1: one runner; each ``network_wait`` (a request about to go on the wire) lets one
    # more in, up to jobs. A run whose answers all come from the cache never waits: one thread.
    tracker = Tracker()
    admission: Admission[int, int]

    def fn(item: int) -> int:
        tracker.enter(item)
        if waits:
            admission.network_wait()
            time.sleep(0.01)
        tracker.leave()
        return item

    with ThreadPoolExecutor(max_workers=64) as pool:
        admission = Admission(pool, fn, range(40), jobs=4, start=1)
        assert admission.results() == list(range(40))
    assert len(tracker.threads) == (4 if waits else 1)


def test_a_runner_the_system_refuses_to_start_leaves_its_package_to_the_others() -> None:
    # A thread limit (ulimit -u, a pids cgroup) refuses the third thread: every package still
    # runs, on the runners that could start; none is lost, and the refusal is not an error.
    class Limited(ThreadPoolExecutor):
        def __init__(self) -> None:
            super().__init__(max_workers=64)
            self.started = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            if self.started >= 2:
                raise RuntimeError("can't start new thread")
            self.started += 1
            return super().submit(fn, *args, **kwargs)

    admission: Admission[int, int]

    def fn(item: int) -> int:
        admission.waiting()  # asks for more runners every time
        return item * 2

    with Limited() as pool:
        admission = Admission(pool, fn, range(30), jobs=2, cap=10)
        assert admission.results() == [item * 2 for item in range(30)]
        assert pool.started == 2
