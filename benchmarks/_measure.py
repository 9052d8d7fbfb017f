"""Measurement shared by the benchmarks: one command, its wall time, CPU time and own peak RSS.

Each command runs as a fresh subprocess with empty XDG directories and no tokens; the fork
happens in a slim helper so that ``ru_maxrss`` is the command's own (see ``_SPAWN_HELPER``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SECRET_ENV  # the benchmarks put the repository root on sys.path


def compile_project() -> None:
    """Write the bytecode of ``verifier/``, as pip does when it installs the wheel.

    A checkout imported with PYTHONDONTWRITEBYTECODE set (as on some CI machines) would
    otherwise recompile every module it changed on every run, a cost no installed copy has.
    """
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parent.parent / "verifier", quiet=1)


@dataclass(frozen=True)
class Sample:
    seconds: float
    max_rss_kb: int
    code: int
    out: str
    err: str
    cpu_seconds: float = 0.0
    """User and system CPU time of the command and every process it forked and reaped (its
    workers, its writer): what ``os.wait4`` reports for the child."""


class Scratch:
    """Fresh, empty directories under one temporary root (removed at the end)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0

    def fresh(self, prefix: str) -> Path:
        self._count += 1
        path = self.root / f"{prefix}-{self._count}"
        path.mkdir(parents=True)
        return path

    def env(self) -> dict[str, str]:
        """The caller's environment with empty XDG directories and no tokens."""
        home = self.fresh("xdg")
        env = dict(os.environ)
        for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
            env[var] = str(home / var.lower())
        for var in (*SECRET_ENV, "VERIFY_RELEASE_INDEX_URL"):
            env.pop(var, None)
        return env


# os.wait4 reports the peak RSS of one child, but on Linux a child's ru_maxrss starts at the
# high-water RSS of the process that forked it (exec records the old address space's peak).
# This script holds pytest, requests and sigstore, so children it forked directly would all
# report its own ~65 MB. The fork therefore happens in a slim helper (python -I -S, about 8 MB,
# smaller than any Python CLI measured), which spawns the command, reaps it with os.wait4 and
# writes wall time, exit code and ru_maxrss to a file.
_SPAWN_HELPER = """\
import os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(result, "w") as handle:
    cpu = usage.ru_utime + usage.ru_stime
    handle.write(f"{elapsed!r} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {cpu!r}")
"""


def measure(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> Sample:
    """Run ``argv`` once; wall time from spawn to reap, CPU time, and the child's own peak RSS."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".result") as result,
    ):
        helper = [sys.executable, "-I", "-S", "-c", _SPAWN_HELPER, result.name, *argv]
        subprocess.run(helper, stdout=out, stderr=err, env=env, cwd=cwd, check=True)
        seconds, code, max_rss_kb, cpu = result.read().split()
        out.seek(0)
        err.seek(0)
        return Sample(
            seconds=float(seconds),
            max_rss_kb=int(max_rss_kb),  # kilobytes on Linux
            code=int(code),
            cpu_seconds=float(cpu),
            out=out.read().decode(errors="replace"),
            err=err.read().decode(errors="replace"),
        )
