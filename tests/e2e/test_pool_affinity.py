"""While a lockfile run's workers verify, its own threads share one core and the workers have all.

``VerificationPool`` pins the run's threads (``verifier.affinity``) once its workers exist and
gives them every core back when it closes; the workers, the first one forked early or not and
those it forks later, keep every core. Run in a fresh interpreter (workers fork only from a
single thread) with real verification on the test material.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import Material
from tests.e2e.test_workers import run_script

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="worker processes are forked on Linux only; pinning needs two cores",
)

FILE = "pypi_attestations-0.0.19.tar.gz"

POOL_SETUP = """
    import functools, os, sys
    from pathlib import Path
    from verifier import affinity, workers
    from verifier.checks.attestations import AttestationChecker
    from verifier.trust import PRODUCTION_TUF_URL, DeferredVerifier, _embedded, _parse_custom

    how = sys.argv[1]  # "early": the first worker forked as a run starts; else by the pool
    cores = sorted(os.sched_getaffinity(0))
    if how == "early":
        workers.fork_early(2, eager=True)
    root = _embedded(PRODUCTION_TUF_URL, "trusted_root.json")
    deferred = DeferredVerifier(functools.partial(_parse_custom, root, root.read_bytes()))
    checker = AttestationChecker(deferred, staging=None)
"""
"""The start of a script that makes a pool of 2 workers with a real checker (``checker``)."""

_SCRIPT = (
    POOL_SETUP
    + """
    provenance, digest = Path(sys.argv[2]), sys.argv[3]

    def show(label, pid):
        print(label, ",".join(map(str, sorted(os.sched_getaffinity(pid)))))

    print("cores", ",".join(map(str, cores)))
    with workers.VerificationPool(checker, 2) as pool:
        assert pool.processes == 2, pool.reason
        for _ in range(3):  # the second worker is forked after the first file
            result = pool.checker.check_provenance(
                provenance.read_bytes(), filename=sys.argv[4], digest=digest, expected=None
            )
            assert result.status.value == "proven", result
        show("run", 0)
        show("first worker", pool._first)
        with open(f"/proc/{pool._first}/task/{pool._first}/children") as handle:
            (second,) = [int(pid) for pid in handle.read().split()]
        show("second worker", second)
    show("after", 0)
"""
)


@pytest.mark.parametrize("how", ["early", "forked by the pool"])
def test_the_run_shares_one_core_while_its_workers_keep_every_core(
    material: Material, tmp_path: Path, how: str
) -> None:
    provenance = tmp_path / "provenance.json"
    provenance.write_bytes(material.provenance(FILE))
    digest = hashlib.sha256(material.read(FILE)).hexdigest()
    done = run_script(_SCRIPT, how, str(provenance), digest, FILE, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
    cores = shown["cores"]
    assert len(shown["run"].split(",")) == 1
    assert shown["run"] in cores.split(",")
    assert shown["first worker"] == cores
    assert shown["second worker"] == cores
    assert shown["after"] == cores
