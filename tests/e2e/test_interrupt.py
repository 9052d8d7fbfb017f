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


def test_ctrl_c_stops_a_lockfile_run_with_its_workers(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    lock = serve(index, material, tmp_path)
    # Every page stalls but the first package's: its file is verified, so the first worker
    # forks the second (see verifier.workers) before the run is interrupted.
    for name in [*(package[0] for package in PACKAGES[1:]), "unattested"]:
        index.server.routes[index.simple_path(name)].stall_before = STALL
    argv = [
        *(sys.executable, "-m", "verifier", "--lockfile", str(lock), "--index-url", index.url),
        *("--offline", "--no-cache", "--cache-dir", str(tmp_path / "cache"), "--jobs", "2"),
        *("--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"),
        *("--verify-processes", "2", "--timeout", str(STALL)),
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ),
    )
    try:
        wait_for(
            lambda: sum(r.path.startswith("/simple/") for r in index.server.requests) >= 3,
            "the run to ask the stalling index",
        )
        # The run itself and its two verification workers.
        wait_for(lambda: len(group_members(proc.pid)) == 3, "the second worker")
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
    # The first package's page, then only the two pages the two jobs were waiting for: the
    # queued packages were cancelled.
    assert sum(r.path.startswith("/simple/") for r in index.server.requests) == 3
