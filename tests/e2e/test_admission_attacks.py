"""Attacks on a lockfile run whose first worker is slow to answer (LockfileRun's admission).

From red-team round 5 of the speed work: however long the first verdict takes, the run starts
at most ``pipeline.STARTING`` times its cap of threads, and a refused thread is not a crash.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import base_args
from tests.servers import DistFile, FakeIndex
from tests.sigstore_local import GitHubClaims, LocalSigstore

_SLOW_FIRST_ANSWER = """\
import sys, threading, time
from verifier.checks.attestations import AttestationChecker
from verifier.cli import main
# The first verdict takes a few seconds (a worker still importing sigstore, or its trust
# root refresh waiting on a slow network); the verification itself is the real one.
real_check = AttestationChecker.check_provenance
slow = {"first": True}
def check_provenance(self, *args, **kwargs):
    if slow["first"]:
        slow["first"] = False
        time.sleep(4)
    return real_check(self, *args, **kwargs)
AttestationChecker.check_provenance = check_provenance
started = []
real_start = threading.Thread.start
LIMIT = int(sys.argv.pop(1))  # pool threads this process may start (0: no limit)
def counting(self):
    if LIMIT and "ThreadPoolExecutor" in self.name and len(started) >= LIMIT:
        raise RuntimeError("can't start new thread")  # what a pids/ulimit ceiling gives
    started.append(self.name)
    return real_start(self)
threading.Thread.start = counting
code = main(sys.argv[1:])
print(len([name for name in started if "ThreadPoolExecutor" in name]))
raise SystemExit(code)
"""


@pytest.fixture(scope="module")
def stack() -> LocalSigstore:
    return LocalSigstore()


@pytest.mark.parametrize("limit", [0, 100])
def test_a_slow_first_verdict_does_not_start_a_thread_per_package(
    stack: LocalSigstore, index: FakeIndex, tmp_path: Path, limit: int
) -> None:
    # --jobs 2: cap = 2 * THREADS_PER_JOB = 16 runners. While no worker has answered, every
    # package that reaches its verdict wait admits one more (Admission.waiting, uncapped), so
    # a lockfile of N packages runs on N threads: the count is the lockfile's length, not
    # --jobs. With a ceiling on threads (limit=100, far above what --jobs 2 needs) the run
    # dies with "RuntimeError: can't start new thread" from Admission._admit, a traceback
    # and no report, instead of verifying the lockfile.
    root = stack.write_trusted_root(tmp_path / "trusted_root.json")
    claims = GitHubClaims(repository="acme/many", workflow="release.yml", ref="refs/tags/v1")
    lines = []
    packages = 120
    for number in range(packages):
        name = f"many{number}"
        filename = f"{name}-1.0-py3-none-any.whl"
        content = f"{filename}: a wheel\n".encode()
        index.add_release(
            name, "1.0", [DistFile(filename, content, stack.provenance(filename, content, claims))]
        )
        lines.append(f"{name}==1.0 --hash=sha256:{hashlib.sha256(content).hexdigest()}")
    lock = tmp_path / "requirements.txt"
    lock.write_text("\n".join(lines) + "\n")
    argv = [
        *("--lockfile", str(lock), *base_args(index.url, tmp_path / "cache")),
        *("--trusted-root", str(root), "--format", "json", "--jobs", "2"),
        *("--verify-processes", "2"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", _SLOW_FIRST_ANSWER, str(limit), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["verdict"] == "verified"
    threads = int(done.stdout.splitlines()[-1])
    assert threads <= 4 * 16 + 2, f"{threads} pool threads for {packages} packages at --jobs 2"
