"""Files are written whole or not at all (``verifier.atomic``), and only through it."""

from __future__ import annotations

import ast
import errno
import os
import resource
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from verifier import atomic
from verifier.errors import FileNotWritten, UnwritableFile, UsageError

ROOT = Path(__file__).resolve().parents[2]
BIG = "".join(f"# hand-written line {n:06d}: keep me exactly as I am\n" for n in range(4400))
"""A 227 KB hand-written file, as in the issue."""


def _failing_write(limit: int) -> object:
    """An ``os.write`` stand-in that writes ``limit`` bytes, then fails as a full disk does."""
    real = os.write
    written = 0

    def write(fd: int, data: bytes | memoryview) -> int:
        nonlocal written
        if written >= limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        chunk = bytes(data[: limit - written])
        written += real(fd, chunk)
        return len(chunk)

    return write


def test_the_big_file_is_intact_when_the_disk_fills_part_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "verify-release.toml"
    target.write_text(BIG)
    assert len(BIG) > 227_000
    monkeypatch.setattr(os, "write", _failing_write(150_000))
    with pytest.raises(UnwritableFile) as caught:
        atomic.write_text(target, BIG + "[publishers.x]\n")
    assert caught.value.message == (
        f"cannot write {target} (No space left on device); the file was not changed"
    )
    assert isinstance(caught.value, UsageError)
    assert target.read_text() == BIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify-release.toml"]


def test_a_file_size_limit_leaves_the_file_intact(tmp_path: Path) -> None:
    """``ulimit -f`` in a child process: the write stops at the limit, the original survives."""
    target = tmp_path / "verify-release.toml"
    target.write_text(BIG)
    script = (
        "import sys; from pathlib import Path; from verifier import atomic; "
        "from verifier.errors import UnwritableFile\n"
        "path = Path(sys.argv[1])\n"
        "try:\n"
        "    atomic.write_text(path, path.read_text() + '[publishers.x]\\n')\n"
        "except UnwritableFile as exc:\n"
        "    print(exc.message); sys.exit(3)\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    done = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        preexec_fn=limit,  # the limit applies to the child only
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == f"cannot write {target} (File too large); the file was not changed\n"
    assert target.read_text() == BIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify-release.toml"]


def test_an_unexpected_failure_is_internal_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def chunks() -> Iterator[bytes]:
        yield b"new"
        raise ValueError("renderer broke")

    with pytest.raises(FileNotWritten) as caught:
        atomic.write_chunks(target, chunks())
    assert not isinstance(caught.value, UsageError)
    assert caught.value.message == f"{target} was not changed: writing it failed (renderer broke)"
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_interrupt_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def chunks() -> Iterator[bytes]:
        yield b"new"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_chunks(target, chunks())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "out.sarif"
    with pytest.raises(UnwritableFile) as caught:
        atomic.write_text(target, "x")
    assert caught.value.message == (
        f"cannot write {target} (No such file or directory); the file was not changed"
    )
    assert caught.value.hint == atomic.UNWRITABLE_HINT


def test_an_existing_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path: Path) -> None:
    kept = tmp_path / "kept.toml"
    kept.write_text("a")
    kept.chmod(0o640)
    atomic.write_text(kept, "b")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert kept.read_text() == "b"
    old = os.umask(0o022)
    atomic._UMASK.clear()  # the tool reads the umask once; this test changed it
    try:
        atomic.write_text(tmp_path / "new.toml", "c")
    finally:
        os.umask(old)
        atomic._UMASK.clear()
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o644


def test_without_keep_mode_the_file_gets_new_mode_and_the_target_is_not_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The response store's writes: private whatever was there, with no stat and no chmod."""
    target = tmp_path / "entry"
    target.write_bytes(b"old")
    target.chmod(0o644)
    looked: list[str] = []
    real_stat, real_fchmod = os.stat, os.fchmod

    def spy_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        looked.append(f"stat {path}")
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    def spy_fchmod(fd: int, mode: int) -> None:
        looked.append(f"fchmod {oct(mode)}")
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "stat", spy_stat)
    monkeypatch.setattr(os, "fchmod", spy_fchmod)
    atomic._UMASK.clear()
    old = os.umask(0o022)
    try:
        atomic.write_chunks(target, [b"new"], new_mode=0o600, durable=False, keep_mode=False)
        assert stat.S_IMODE(real_stat(target).st_mode) == 0o600
        assert (target.read_bytes(), looked) == (b"new", [])
        # Another mode than the temporary file's is set before the rename.
        atomic.write_chunks(target, [b"newer"], new_mode=0o640, durable=False, keep_mode=False)
    finally:
        os.umask(old)
        atomic._UMASK.clear()
    assert stat.S_IMODE(real_stat(target).st_mode) == 0o640
    assert looked == ["fchmod 0o640"]


def test_text_is_written_as_given_with_its_line_endings(tmp_path: Path) -> None:
    target = tmp_path / "a.toml"
    atomic.write_text(target, "a = 1\r\nb = '\U0001f600'\n")
    assert target.read_bytes() == "a = 1\r\nb = '\U0001f600'\n".encode()


def test_a_symlinked_target_is_written_through_unless_told_otherwise(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("old")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    atomic.write_text(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"
    atomic.write_bytes(link, b"own", follow_symlinks=False)
    assert not link.is_symlink()
    assert real.read_text() == "new"


_APPENDER = """
import sys
from pathlib import Path
from verifier import atomic
path, me = Path(sys.argv[1]), sys.argv[2]
for n in range(40):
    atomic.append_text(path, f"{me}-{n}\\n")
"""


def test_parallel_appends_lose_nothing(tmp_path: Path) -> None:
    """Read-modify-write under the lock: four processes append 40 lines each to one file."""
    target = tmp_path / "summary.md"
    target.write_text("# kept\n")
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(target), f"p{i}"], cwd=ROOT)
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lines = target.read_text().splitlines()
    assert lines[0] == "# kept"
    assert sorted(lines[1:]) == sorted(f"p{i}-{n}" for i in range(4) for n in range(40))


# -- only verifier/atomic.py writes files ----------------------------------------------------

ALLOWED = {
    # Streams a download into a temporary file and renames it into place (already atomic).
    ("verifier/http.py", "mkstemp"),
    ("verifier/http.py", "fdopen"),
    # The cache's lock file: created empty and locked by byte range, never written.
    ("verifier/store.py", "os.open"),
}
"""Writers outside ``verifier/atomic.py`` that are atomic by other means, with the reason."""

_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def _mode(node: ast.Call, position: int) -> ast.expr | None:
    for keyword in node.keywords:
        if keyword.arg == "mode":
            return keyword.value
    return node.args[position] if len(node.args) > position else None


def _writes(mode: ast.expr | None) -> bool:
    """A literal mode that writes, or a mode the scan cannot read (assumed to write)."""
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return True


def _writers(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = func.value if isinstance(func, ast.Attribute) else None
        if isinstance(owner, ast.Name) and owner.id == "atomic":
            continue
        if name in ("write_text", "write_bytes", "mkstemp", "NamedTemporaryFile") or (
            name == "fdopen" and _writes(_mode(node, 1))
        ):
            yield name, node.lineno
        elif name == "open" and isinstance(owner, ast.Name) and owner.id == "os":
            flags = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if flags & _WRITE_FLAGS:
                yield "os.open", node.lineno
        elif name == "open" and _writes(_mode(node, 0 if owner is not None else 1)):
            yield name, node.lineno


def test_nothing_in_verifier_or_the_action_writes_a_file_but_atomic() -> None:
    found = sorted(
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in [*(ROOT / "verifier").rglob("*.py"), ROOT / "scripts" / "action_run.py"]
        if path.name != "atomic.py"
        for name, line in _writers(path)
        if (str(path.relative_to(ROOT)), name) not in ALLOWED
    )
    assert not found, "write through verifier.atomic instead:\n" + "\n".join(found)


def test_the_scan_finds_each_kind_of_writer(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "p.write_text('x')\n"
        "open(name, 'a')\n"
        "p.open('wb')\n"
        "os.fdopen(fd, 'wb')\n"
        "os.open(name, os.O_WRONLY | os.O_CREAT)\n"
        "open(name)\n"
        "p.open('rb')\n"
        "os.open(name, os.O_RDONLY)\n"
        "atomic.write_text(p, 'x')\n"
    )
    assert sorted(_writers(sample)) == [
        ("fdopen", 5),
        ("open", 3),
        ("open", 4),
        ("os.open", 6),
        ("write_text", 2),
    ]


def test_create_exclusive_keeps_the_first_file_whole(tmp_path: Path) -> None:
    key = tmp_path / "cache.key"
    assert atomic.create_exclusive(key, b"first") is True
    assert atomic.create_exclusive(key, b"second") is False
    assert key.read_bytes() == b"first"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["cache.key"]


def test_create_exclusive_leaves_nothing_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "cache.key"
    monkeypatch.setattr(os, "write", _failing_write(10))
    with pytest.raises(UnwritableFile):
        atomic.create_exclusive(key, b"0123456789abcdef" * 4)
    assert list(tmp_path.iterdir()) == []


def test_append_keeps_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_bytes(b"earlier \xff\xfe step\r\n")
    atomic.append_text(target, "ours \U0001f512\n")
    assert target.read_bytes() == b"earlier \xff\xfe step\r\n" + "ours \U0001f512\n".encode()
