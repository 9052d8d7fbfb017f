"""The first verification worker is forked as a lockfile run starts, and always ends with it.

``verifier.workers.fork_early`` forks it before the run's own start-up; the run's pool adopts
it (sending the checker down its pipe), or ends it. Each test runs in a fresh interpreter of its
own (workers fork only from a single thread) and in its own session, so that any process left
behind is found.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.test_workers import run_script
from verifier import run, workers, writer

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only"
)

FILE = "pypi_attestations-0.0.19.tar.gz"


def _gone(pgid: int) -> bool:
    """Whether the process group ``pgid`` is empty now (else it is killed, for the next test).

    Checked once, at once: a worker the run ended was reaped before the run exited, while one
    left behind would still be importing, or waiting on its pipe.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    os.killpg(pgid, signal.SIGKILL)
    return False


_ADOPT_SCRIPT = """
    import functools, os, sys
    from pathlib import Path
    from verifier import workers
    from verifier.checks.attestations import AttestationChecker
    from verifier.trust import PRODUCTION_TUF_URL, DeferredVerifier, _embedded, _parse_custom

    provenance, digest, eager = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "eager"
    workers.fork_early(2, eager=eager)
    early = workers._early.pid
    root = _embedded(PRODUCTION_TUF_URL, "trusted_root.json")
    deferred = DeferredVerifier(functools.partial(_parse_custom, root, root.read_bytes()))
    checker = AttestationChecker(deferred, staging=None)
    with workers.VerificationPool(checker, 2) as pool:
        assert pool.processes == 2, pool.reason
        print("adopted", pool._first == early)
        nice = os.getpriority(os.PRIO_PROCESS, early) - os.getpriority(os.PRIO_PROCESS, 0)
        print("niceness", nice)
        for _ in range(3):  # the second worker is forked after the first file
            result = pool.checker.check_provenance(
                provenance.read_bytes(), filename=sys.argv[4], digest=digest, expected=None
            )
            print("status", result.status.value)
        print("built here", deferred.loaded)
"""


@pytest.mark.parametrize("eager", ["eager", "lazy"])
def test_a_pool_adopts_the_early_worker_which_verifies_for_real(
    material: Material, tmp_path: Path, eager: str
) -> None:
    provenance = tmp_path / "provenance.json"
    provenance.write_bytes(material.provenance(FILE))
    digest = hashlib.sha256(material.read(FILE)).hexdigest()
    done = run_script(_ADOPT_SCRIPT, str(provenance), digest, eager, FILE, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "adopted True"
    # Niced (``workers.NICENESS``, capped by the system's 19): the run's process comes first.
    niceness = int(lines[1].split()[1])
    assert niceness == min(workers.NICENESS, 19 - os.getpriority(os.PRIO_PROCESS, 0))
    assert lines[2:5] == ["status proven"] * 3
    # The trust root travelled as its recipe and was built in the worker, not in the run.
    assert lines[5] == "built here False"


_DISCARD_SCRIPT = """
    import os, sys
    from verifier import workers
    from verifier.checks.attestations import AttestationChecker

    HOW = sys.argv[1]
    workers.fork_early(2, eager=True)
    early = workers._early.pid
    if HOW == "none wanted":  # a lockfile of fewer than MIN_FILES files
        pool = workers.VerificationPool(object(), 0)
    elif HOW == "cannot travel":  # a verifier built in the run (a TUF-refreshed root)
        pool = workers.VerificationPool(AttestationChecker(object(), staging=None), 1)
        print("forked anew", pool.processes == 1 and pool._first != early)
    else:  # the run stopped before any pool (a usage error, Ctrl-C)
        pool = None
        workers.discard_early()
    try:
        os.kill(early, 0)
        print("early worker still there")
    except ProcessLookupError:
        print("early worker ended and reaped")
    if pool is not None:
        pool.close()
"""


@pytest.mark.parametrize("how", ["none wanted", "cannot travel", "run stopped"])
def test_an_early_worker_no_pool_adopts_is_ended_and_reaped(how: str) -> None:
    done = run_script(_DISCARD_SCRIPT, how, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "early worker ended and reaped" in done.stdout.splitlines()
    if how == "cannot travel":
        assert "forked anew True" in done.stdout.splitlines()


def test_a_run_that_stops_before_its_pool_leaves_no_process(tmp_path: Path) -> None:
    # Enough pins for workers; the trust root cannot be read, so the run stops (exit 3) after
    # the early fork and before any pool exists.
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "".join(f"pkg{n}==1.0 --hash=sha256:{'0' * 64}\n" for n in range(workers.MIN_FILES))
    )
    argv = [
        *(sys.executable, "-m", "verifier", "--lockfile", str(lock), "--offline"),
        *("--trusted-root", str(tmp_path / "missing.json"), "--verify-processes", "2"),
        *("--cache-dir", str(tmp_path / "cache")),
    ]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        _, err = process.communicate(timeout=120)
    assert process.returncode == 3, err
    assert "cannot read" in err
    # Nothing of the run is left in its process group (``start_new_session``: pgid = its pid).
    assert _gone(process.pid)


def _args(tmp_path: Path, **overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "lockfiles": [tmp_path / "requirements.txt"],
        "verify_processes": None,
        "no_cache": False,
        "evidence": None,
        "no_verdict_cache": False,
        "cache_dir": tmp_path / "cache",
        "trusted_root": tmp_path / "trusted_root.json",
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def test_the_early_worker_imports_and_the_writer_starts_only_when_no_verdict_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forks: list[tuple[int, bool]] = []
    monkeypatch.setattr(
        workers, "fork_early", lambda processes, *, eager: forks.append((processes, eager))
    )
    writers: list[int] = []
    monkeypatch.setattr(writer, "start", lambda: writers.append(len(forks)))
    monkeypatch.setattr(workers, "available_cores", lambda: 4)
    run._fork_helpers(_args(tmp_path))  # no cache yet: a first run verifies
    verdicts = tmp_path / "cache" / "verdicts"
    verdicts.mkdir(parents=True)
    run._fork_helpers(_args(tmp_path))  # an empty verdict folder: nothing to reuse
    (verdicts / "ab").mkdir()
    run._fork_helpers(_args(tmp_path))  # earlier verdicts: likely a warm run
    run._fork_helpers(_args(tmp_path, no_cache=True))  # no cache: everything verified
    run._fork_helpers(_args(tmp_path, verify_processes=3))
    run._fork_helpers(_args(tmp_path, verify_processes=0))  # in-process: no worker
    run._fork_helpers(_args(tmp_path, lockfiles=[]))  # no lockfile: no worker
    assert forks == [(4, True), (4, True), (4, False), (4, True), (3, False)]
    # The background writer, for runs that will write: not with --no-cache, nor a warm run.
    assert writers == [0, 1]
    # Sigstore's own root is built in the run's process: no early worker could be handed it.
    (verdicts / "ab").rmdir()
    run._fork_helpers(_args(tmp_path, trusted_root=None))
    assert len(forks) == 5
    assert writers == [0, 1, 5]
    monkeypatch.setattr(workers, "available_cores", lambda: 1)
    run._fork_helpers(_args(tmp_path))  # one core: verified in-process
    assert len(forks) == 5
