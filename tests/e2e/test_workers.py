"""Verification in worker processes gives the same verdicts as verification in-process.

These tests run verify-release as a subprocess: workers are only forked from a process with a
single thread, and the test process runs the loopback servers' threads (in-process runs fall
back to verifying in-process, which ``test_a_threaded_process_verifies_in_process`` checks).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN_CANARY, Material
from tests.servers import DistFile, FakeIndex
from verifier.workers import MIN_FILES, VerificationPool, available_cores, default_processes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only"
)

# name, version, the file served, whose provenance the index serves for it (None: no provenance)
PACKAGES: list[tuple[str, str, str, str | None]] = [
    ("pypi-attestations", "0.0.19", "pypi_attestations-0.0.19.tar.gz", "same"),
    ("pypi-attestation-models", "0.0.4a2", "pypi_attestation_models-0.0.4a2.tar.gz", "same"),
    (
        "circleci-sign-publish-example",
        "0.0.1.dev137",
        "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl",
        "same",
    ),
    ("gcb-attestation-test", "0.0.0", "gcb_attestation_test-0.0.0.tar.gz", "same"),
    # Staging signatures: refused, with the staging verifier consulted to say so.
    ("rfc8785", "0.1.2", "rfc8785-0.1.2-py3-none-any.whl", "same"),
    # Tampered: another file's real provenance, so the statement names the wrong digest.
    (
        "gitlab-oidc-project",
        "0.0.3",
        "gitlab_oidc_project-0.0.3.tar.gz",
        "pypi_attestations-0.0.19.tar.gz",
    ),
]


def serve(index: FakeIndex, material: Material, tmp_path: Path) -> Path:
    """The packages above plus one without provenance; returns a hash-pinned lockfile."""
    lines = []
    for name, version, filename, provenance_of in PACKAGES:
        source = filename if provenance_of == "same" else provenance_of
        content = material.read(filename)
        dist = DistFile(filename, content, material.provenance(source or filename))
        index.add_release(name, version, [dist])
        lines.append(f"{name}=={version} --hash=sha256:{hashlib.sha256(content).hexdigest()}")
    unattested = b"an sdist whose index publishes no provenance\n"
    index.add_release("unattested", "1.0", [DistFile("unattested-1.0.tar.gz", unattested)])
    lines.append(f"unattested==1.0 --hash=sha256:{hashlib.sha256(unattested).hexdigest()}")
    lock = tmp_path / "requirements.txt"
    lock.write_text("\n".join(lines) + "\n")
    return lock


def verify(index: FakeIndex, lock: Path, tmp_path: Path, processes: str) -> tuple[Any, str]:
    argv = [
        *(sys.executable, "-m", "verifier", "--lockfile", str(lock), "--index-url", index.url),
        *("--offline", "--no-cache", "--cache-dir", str(tmp_path / f"cache-{processes}")),
        *("--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"),
        *("--format", "json", "-v", "--verify-processes", processes),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=300, env=dict(os.environ)
    )
    assert done.returncode in (1, 2), done.stderr[-3000:]
    for text in (done.stdout, done.stderr):
        assert TOKEN_CANARY not in text
    return json.loads(done.stdout), done.stderr


def test_workers_and_in_process_give_the_same_report(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    lock = serve(index, material, tmp_path)
    pooled, pooled_log = verify(index, lock, tmp_path, "2")
    alone, alone_log = verify(index, lock, tmp_path, "0")
    assert "verifying with 2 worker processes" in pooled_log
    assert "worker processes" not in alone_log
    assert pooled["releases"] == alone["releases"]
    assert pooled["verdict"] == alone["verdict"] == "failed"
    outcomes = {
        release["subject"]: {f["check"]: f["outcome"] for f in release["findings"]}["attestation"]
        for release in pooled["releases"]
    }
    assert outcomes["pypi-attestations==0.0.19"] == "verified"
    assert outcomes["pypi-attestation-models==0.0.4a2"] == "verified"
    assert outcomes["gitlab-oidc-project==0.0.3"] == "failed"
    assert outcomes["rfc8785==0.1.2"] == "failed"
    assert outcomes["unattested==1.0"] == "unverifiable"
    staging = next(r for r in pooled["releases"] if r["subject"] == "rfc8785==0.1.2")
    assert any("staging" in f["message"] for f in staging["findings"])


def run_script(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter of its own (workers fork only from a single thread),
    in its own session, from the checkout."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )


_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from verifier.checks.attestations import AttestationChecker
    from verifier.judge import judge
    from verifier.policy import Policy
    from verifier.workers import VerificationPool

    PROCESSES, HOW = int(sys.argv[1]), sys.argv[2]

    class DiesOnOneFile(AttestationChecker):
        # Stands in for a worker killed mid-check (a crash, the OOM killer) or one that sends
        # something that is not a result; the pool's handling is what is tested, not any
        # verification.
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            if filename == "crash.tar.gz":
                if HOW == "exit":
                    os._exit(9)
                return "PASSED"  # not a CheckResult: never taken for one
            return self.missing(filename, "no provenance (test)")

    tolerant = Policy(allow_missing=frozenset({"attestations"}))
    with VerificationPool(DiesOnOneFile(None, staging=None), PROCESSES) as pool:
        assert pool.processes == PROCESSES, pool.reason
        for name in ("first.tar.gz", "before.tar.gz", "crash.tar.gz", "after.tar.gz"):
            result = pool.checker.check_provenance(
                b"", filename=name, digest="0" * 64, expected=None
            )
            finding = judge(result, tolerant)
            print(name, finding.outcome.value, finding.message, flush=True)
    """
)


@pytest.mark.parametrize(
    ("processes", "how"), [(1, "exit"), (2, "exit"), (1, "malformed"), (2, "malformed")]
)
def test_a_dead_or_garbled_worker_makes_its_file_and_every_later_file_unverifiable(
    processes: int, how: str
) -> None:
    # With two processes the second is forked by the first after "first.tar.gz"; either of
    # them may take "crash.tar.gz", and either way nothing after it passes.
    done = run_script(_CRASH_SCRIPT, str(processes), how, timeout=120)
    assert done.returncode == 0, done.stderr
    lost = "unverifiable a verification worker process exited unexpectedly or answered out of turn"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("first.tar.gz skipped")
    assert lines[1].startswith("before.tar.gz skipped")
    assert lines[2].startswith(f"crash.tar.gz {lost}")
    assert lines[3].startswith(f"after.tar.gz {lost}")


def test_a_threaded_process_verifies_in_process() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        sentinel: Any = object()
        pool = VerificationPool(sentinel, 2)
        assert pool.processes == 0
        assert pool.checker is sentinel
        assert pool.reason == "the process already runs other threads"
        pool.close()
    finally:
        stop.set()
        thread.join()


def test_default_processes_are_one_per_core() -> None:
    # The later workers start only once the first has built the trust root (see workers.py).
    assert default_processes(MIN_FILES - 1) == 0
    assert default_processes(400) == min(16, available_cores())


def test_a_negative_process_count_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from verifier.cli import main

    lock = tmp_path / "requirements.txt"
    lock.write_text("")
    assert main(["--lockfile", str(lock), "--verify-processes", "-1", "--offline"]) == 3
    assert "--verify-processes must be 0 or more" in capsys.readouterr().err


def test_more_threads_than_jobs_never_put_more_than_jobs_requests_on_the_wire(
    index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    # With workers, a lockfile run keeps many threads so that one waiting for a verdict does
    # not hold back the next package; the gate (verifier.gate) keeps --jobs the bound the
    # index sees. Every page answers slowly, so the threads would pile up on the server.
    lock = serve(index, material, tmp_path)
    for name in [*(package[0] for package in PACKAGES), "unattested"]:
        index.server.routes[index.simple_path(name)].stall_before = 0.2
    argv = [
        *(sys.executable, "-m", "verifier", "--lockfile", str(lock), "--index-url", index.url),
        *("--offline", "--no-cache", "--jobs", "2", "--verify-processes", "2", "--format", "json"),
        *("--skip", "bundles", "--skip", "tags", "--skip", "vulnerabilities"),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=300, env=dict(os.environ)
    )
    assert done.returncode in (1, 2), done.stderr[-3000:]
    assert sum(r.path.startswith("/simple/") for r in index.server.requests) == len(PACKAGES) + 1
    assert index.server.max_stalled == 2
