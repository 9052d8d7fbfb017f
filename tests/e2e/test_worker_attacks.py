"""The worker pool against an answer it cannot read (found by a red team after the speed pass).

Run as a subprocess, as tests/e2e/test_workers.py does: workers fork only from a process with
a single thread.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="worker processes are forked on Linux only"
)

_SCRIPT = textwrap.dedent(
    """
    import sys, types
    from verifier.checks.attestations import AttestationChecker
    from verifier.workers import VerificationPool

    class Odd(Exception):
        # An exception whose constructor reads an attribute of its argument (as many library
        # errors built from a response do). Pickled, it is (Odd, ("boom",)); unpickled in the
        # run, Odd("boom") raises AttributeError.
        def __init__(self, response):
            super().__init__(response.text)

    class Buggy(AttestationChecker):
        def check_provenance(self, raw, *, filename, digest, expected, record_trusted=True):
            if filename == "odd.tar.gz":
                raise Odd(types.SimpleNamespace(text="boom"))
            return self.missing(filename, "no provenance (test)")

    with VerificationPool(Buggy(None, staging=None), 1) as pool:
        assert pool.processes == 1, pool.reason
        for name in ("first.tar.gz", "odd.tar.gz"):
            try:
                result = pool.checker.check_provenance(
                    b"", filename=name, digest="0" * 64, expected=None
                )
                print(name, result.status.value, flush=True)
            except Exception as exc:
                print(name, "raised", type(exc).__name__, flush=True)
    """
)


def test_an_exception_the_run_cannot_unpickle_does_not_hang_the_run() -> None:
    """``_Pool._read`` catches only EOFError, OSError, ValueError, TypeError and
    UnpicklingError around ``pickle.loads``. A worker-side exception whose reconstruction
    raises anything else (AttributeError, KeyError, IndexError, an import error ...) kills the
    reading thread without ``fail()``: no later answer is read, no future is resolved, and every
    thread waiting for a verdict (here the only one) waits for ever."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            cwd=Path(__file__).resolve().parents[2],
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the run hung on the worker's answer (stderr: {exc.stderr!r:.400})")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("first.tar.gz"), done.stderr
    assert len(lines) == 2, done.stderr
    assert "passed" not in lines[1]
    assert "proven" not in lines[1].lower()
