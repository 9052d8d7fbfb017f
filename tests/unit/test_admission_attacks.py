"""Attacks on lockfile-run admission (pipeline.Admission as LockfileRun wires it).

From red-team round 5 of the speed work: a first worker that never answers must not start a
thread per package (``pipeline.STARTING`` bounds it).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from verifier.pipeline import THREADS_PER_JOB, Admission


def test_a_first_worker_that_never_answers_does_not_start_a_thread_per_package() -> None:
    # LockfileRun's wiring: an executor that may hold one thread per package, start=1,
    # cap=jobs*THREADS_PER_JOB, uncapped=workers.unanswered. While the first worker has not
    # answered (sigstore import, a trust-root refresh stuck on the network, a wedged worker),
    # every thread about to wait for a verdict admits one more runner, with no ceiling at all.
    # A warm HTTP cache with cold verdicts (after an upgrade: another tool version verifies
    # again) lets every package reach that wait at once: a 400-package lockfile => 400
    # threads, a 20,000-package monorepo lock => "can't start new thread" and a crash.
    jobs, total = 2, 400
    cap = jobs * THREADS_PER_JOB
    release = threading.Event()
    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    admission: Admission[int, int]

    def fn(item: int) -> int:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        admission.network_wait()  # its requests (answered from the cache here)
        admission.waiting()  # the pooled checker, before waiting for the verdict
        assert release.wait(20)
        with lock:
            state["now"] -= 1
        return item

    pool = ThreadPoolExecutor(max_workers=total)
    admission = Admission(
        pool, fn, range(total), jobs, cap=cap, uncapped=lambda: not release.is_set(), start=1
    )
    collector = threading.Thread(target=admission.results, daemon=True)
    collector.start()
    deadline = time.monotonic() + 5
    while state["most"] < total and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    most = state["most"]
    release.set()
    collector.join(20)
    pool.shutdown()
    # Some headroom over the cap while no verdict can come is the design; one thread per
    # package is not.
    assert most <= 4 * cap, f"{most} packages in flight (threads) for jobs={jobs}, cap={cap}"
