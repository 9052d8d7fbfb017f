"""Red team round 6: attacks on the CPU affinity pinning (``verifier.affinity``), each fixed.

Each test pins the test process itself and puts every thread back in ``finally``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.pinning import thread_masks
from verifier import affinity, workers
from verifier.checks import tags, vulns
from verifier.git import GitRepo

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs a process allowed on two cores or more",
)


def test_gpg_import_started_while_pinned_gets_every_core(
    cores: set[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """forge_trust's ``gpg --import`` (pipeline, per release, during the pool's use) is started
    with ``subprocess.run``, not through ``children.tracked``: it runs on the run's one core."""
    out = tmp_path / "gpg-cores"
    fake = tmp_path / "bin" / "gpg"
    fake.parent.mkdir()
    fake.write_text(
        f"#!/bin/sh\ncat >/dev/null\ngrep Cpus_allowed_list /proc/self/status > {out}\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert affinity.pin()
    tags._gpg_import(tmp_path, [b"key"], what="keys")
    allowed = out.read_text().split(":", 1)[1].strip()
    assert allowed in _every(cores), f"gpg ran on {allowed!r} of {sorted(cores)}"


_REPORT = (
    "#!/bin/sh\ncat >/dev/null\n"
    "grep Cpus_allowed_list /proc/self/status\n"
    "sh -c 'grep Cpus_allowed_list /proc/self/status'\n"
)


def _allowed(output: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in output.splitlines() if ":" in line]


def _every(cores: set[int]) -> tuple[str, str]:
    return ",".join(map(str, sorted(cores))), f"{min(cores)}-{max(cores)}"


@pytest.mark.parametrize("site", ["git", "pip-audit"])
def test_a_tool_and_what_it_starts_get_every_core_however_busy_the_run(
    cores: set[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    """A child's affinity set after ``Popen`` returned came too late for what the child had
    started meanwhile (git's remote helper, gpg, ssh-keygen; pip-audit's threads): with the
    run's threads busy, the starting thread waited its turn for the interpreter lock while the
    child ran on the one core. Each place that starts a tool does so with the run's cores."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            pass

    busy_threads = [threading.Thread(target=busy) for _ in range(4)]
    for thread in busy_threads:
        thread.start()
    try:
        assert affinity.pin()
        if site == "git":
            fake = tmp_path / "bin" / "git"
            fake.parent.mkdir()
            fake.write_text(_REPORT)
            fake.chmod(0o755)
            monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
            _, out, _ = GitRepo(tmp_path).run(["status"], check=False)
        else:
            _, raw, _ = vulns._run(
                ["sh", "-c", _REPORT.split("\n", 2)[2]], cwd=tmp_path, timeout=30
            )
            out = raw.decode()
        allowed = _allowed(out)
        assert len(allowed) == 2, out
        assert all(mask in _every(cores) for mask in allowed), f"{site}: {allowed}"
        assert len(os.sched_getaffinity(0)) == 1  # the starting thread is on one core again
    finally:
        stop.set()
        for thread in busy_threads:
            thread.join()


def test_restore_misses_a_thread_created_while_it_runs(
    cores: set[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``restore`` lists the threads once: one started by a still-pinned thread after the listing
    inherits one core and keeps it for good (and every git/gpg it starts after: ``_full`` is
    None by then, so ``release_child`` does nothing)."""
    go, started, stop = threading.Event(), threading.Event(), threading.Event()
    late: list[threading.Thread] = []

    def spawner() -> None:
        go.wait()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        late.append(thread)
        started.set()
        stop.wait()

    helper = threading.Thread(target=spawner)
    helper.start()
    try:
        assert affinity.pin()
        real = affinity._threads

        def listed_then_spawned() -> list[int]:
            tids = real()
            go.set()  # a pinned thread starts another just after the listing
            started.wait(5)
            return tids

        monkeypatch.setattr(affinity, "_threads", listed_then_spawned)
        affinity.restore()
        monkeypatch.setattr(affinity, "_threads", real)
        left = {tid: mask for tid, mask in thread_masks().items() if mask != cores}
        assert not left, f"threads left on one core after restore: {left}"
    finally:
        stop.set()
        helper.join()
        for thread in late:
            thread.join()


def test_ctrl_c_during_restore_leaves_the_process_pinned_for_good(
    cores: set[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``restore`` forgets ``_full`` before it sets any thread: a KeyboardInterrupt between two
    ``sched_setaffinity`` calls (or in ``VerificationPool.close`` after it took ``_pool``) leaves
    threads on one core, and no later ``restore``/``close`` can undo it; the next run in the same
    process then sees one core: ``default_processes`` answers 0 (verification moves in-process)."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert affinity.pin()
        real = os.sched_setaffinity
        calls = []

        def interrupted(tid: int, mask: Iterable[int]) -> None:
            calls.append(tid)
            if len(calls) == 1:
                raise KeyboardInterrupt
            real(tid, mask)

        monkeypatch.setattr(os, "sched_setaffinity", interrupted)
        with pytest.raises(KeyboardInterrupt):
            affinity.restore()
        monkeypatch.setattr(os, "sched_setaffinity", real)
        affinity.restore()  # the run's cleanup tries again
        assert os.sched_getaffinity(0) == cores
        assert os.sched_getaffinity(other.native_id or 0) == cores
        assert workers.default_processes(10_000) > 0
    finally:
        stop.set()
        other.join()


def test_restore_gives_back_each_threads_own_cores_not_the_callers(cores: set[int]) -> None:
    """``pin`` remembers only the calling thread's mask and ``restore`` puts it on every thread:
    a thread the embedding application kept on one core (its own choice) leaves the run with
    every core, i.e. the user's process is changed by a speed measure."""
    own = {min(cores)}
    ready, stop = threading.Event(), threading.Event()
    tid: list[int] = []

    def kept_on_one_core() -> None:
        os.sched_setaffinity(0, own)
        tid.append(threading.get_native_id())
        ready.set()
        stop.wait()

    thread = threading.Thread(target=kept_on_one_core)
    thread.start()
    try:
        ready.wait(5)
        assert affinity.pin()
        affinity.restore()
        assert os.sched_getaffinity(tid[0]) == own
    finally:
        stop.set()
        thread.join()
