"""Ctrl-C stops a lockfile run at once: exit 4, "interrupted", no report, nothing left running.

verify-release runs as a subprocess (the console script's exit path, worker processes forked
from a single-threaded process) in a process group of its own, against a loopback index whose
every page stalls, so the run is waiting on the network when SIGINT arrives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.test_workers import PACKAGES, serve
from tests.servers import FakeIndex

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads process groups from /proc"
)

STALL = 120.0
"""Longer than any bound below: a run that waited for the server could not pass."""


def group_members(group: int) -> list[int]:
    """Every process (zombies included) whose process group is ``group``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == group:  # fields: state, ppid, pgrp, ...
            found.append(int(entry.name))
    return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def interrupt(argv: list[str], ready: Callable[[subprocess.Popen[str]], bool], what: str) -> None:
    """Run ``argv`` in a process group of its own, SIGINT it once ``ready``, check the exit."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ),
    )
    try:
        wait_for(lambda: ready(proc), what)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 4, err
    assert out == ""
    assert err.endswith("verify-release: interrupted; nothing was verified\n"), err
    assert group_members(proc.pid) == []


def lockfile_argv(index: FakeIndex, lock: Path, tmp_path: Path, jobs: int) -> list[str]:
    return [
        *(sys.executable, "-m", "verifier", "--lockfile", str(lock), "--index-url", index.url),
        *("--offline", "--no-cache", "--cache-dir", str(tmp_path / "cache"), "--jobs", str(jobs)),
        *("--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"),
        *("--verify-processes", "2", "--timeout", str(STALL)),
    ]


def simple_pages(index: FakeIndex) -> int:
    return sum(r.path.startswith("/simple/") for r in index.server.requests)


@pytest.mark.parametrize("cached", [False, True])
def test_ctrl_c_stops_a_lockfile_run_with_its_workers(
    index: FakeIndex, material: Material, tmp_path: Path, cached: bool
) -> None:
    lock = serve(index, material, tmp_path)
    for name in [*(package[0] for package in PACKAGES), "unattested"]:
        index.server.routes[index.simple_path(name)].stall_before = STALL

    def ready(proc: subprocess.Popen[str]) -> bool:
        # The run itself and its first verification worker (the second is forked after the
        # first file: see the next test), with both jobs waiting on the index; with the cache
        # on, a first run's background writer too (verifier.writer): all must go.
        members = 3 if cached else 2
        return simple_pages(index) >= 2 and len(group_members(proc.pid)) == members

    argv = lockfile_argv(index, lock, tmp_path, jobs=2)
    if cached:
        argv.remove("--no-cache")
    interrupt(argv, ready, "the run to ask the index")
    # Only the two pages the two jobs were waiting for were asked: the packages queued, and the
    # threads waiting for a request slot (verifier.gate), asked nothing.
    assert simple_pages(index) == 2


def test_ctrl_c_stops_the_workers_the_first_worker_forked(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    # Every page stalls but the first package's: its file is verified, so the first worker
    # forks the second; they are the first worker's children, not the run's, and must go too.
    lock = serve(index, material, tmp_path)
    for name in [*(package[0] for package in PACKAGES[1:]), "unattested"]:
        index.server.routes[index.simple_path(name)].stall_before = STALL

    def ready(proc: subprocess.Popen[str]) -> bool:
        return simple_pages(index) == len(PACKAGES) + 1 and len(group_members(proc.pid)) == 3

    interrupt(lockfile_argv(index, lock, tmp_path, jobs=8), ready, "the second worker")
