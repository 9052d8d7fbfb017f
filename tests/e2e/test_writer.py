"""The background writer (``verifier.writer``) writes what it is handed as the run would have.

Each test runs in a fresh interpreter of its own (the writer forks only from a single thread)
and in its own session, so that a process left behind is found.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.e2e.test_workers import run_script

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="helper processes are forked on Linux only"
)

_SCRIPT = """
    import os, signal, sys
    from pathlib import Path
    from verifier import writer
    from verifier.store import EntryFiles

    root, how = Path(sys.argv[1]), sys.argv[2]
    background = writer.start()
    print("pid", background.pid, flush=True)
    files = EntryFiles(root, ".entry")
    if how == "symlinked shard":
        root.mkdir()
        (root / "ab").symlink_to(root.parent / "elsewhere")
    if how == "writer killed":
        os.kill(background.pid, signal.SIGKILL)
        os.waitpid(background.pid, 0)
    taken = [background.submit(files, "ab%062d" % n, b"entry %d" % n) for n in range(200)]
    print("taken", taken.count(True), flush=True)
    writer.finish()
    print("written", len(list(root.glob("*/*.entry"))), flush=True)
"""


def _lines(tmp_path: Path, how: str) -> list[str]:
    (tmp_path / "elsewhere").mkdir()
    done = run_script(_SCRIPT, str(tmp_path / "cache"), how, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    pid = int(lines[0].split()[1])
    with pytest.raises(ProcessLookupError):  # reaped by finish(), whatever happened
        os.kill(pid, 0)
    return lines[1:]


def test_every_entry_handed_over_is_written_when_the_run_finishes(tmp_path: Path) -> None:
    assert _lines(tmp_path, "plain") == ["taken 200", "written 200"]
    first = tmp_path / "cache" / "ab" / f"ab{0:062d}.entry"
    assert first.read_bytes() == b"entry 0"
    assert oct(first.stat().st_mode & 0o777) == oct(0o600)


def test_the_writer_never_writes_through_a_symlinked_shard(tmp_path: Path) -> None:
    lines = _lines(tmp_path, "symlinked shard")
    assert lines[0] == "taken 200"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_writer_that_is_gone_hands_entries_back_to_the_run(tmp_path: Path) -> None:
    # The first full batch fails to go (its entries are not cached: a slower next run); every
    # later entry is refused, so the run writes it itself (``ResponseStore._write``).
    taken, written = _lines(tmp_path, "writer killed")
    assert taken == "taken 64"
    assert written == "written 0"


def test_finishing_without_a_writer_does_nothing() -> None:
    from verifier import writer

    assert writer.current() is None
    writer.finish()  # nothing to reap, nothing raised
    assert writer.current() is None
