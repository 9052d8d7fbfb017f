"""Attacks on what verify-release writes (issue 15): each test states a rule the code keeps.

Found by a red team against the first atomic-write, lock and pin work; each failed before the fix.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name

from verifier import atomic
from verifier.errors import VerifierError
from verifier.pins import Observed, apply_pins
from verifier.policy import PIN_BEGIN, PIN_END, load_policy_file
from verifier.store import ResponseStore, UnwritableStore

REPO = "https://github.com/o/r"


def _name(text: str) -> NormalizedName:
    return NormalizedName(canonicalize_name(text))


@pytest.mark.parametrize("marker", [PIN_END, PIN_BEGIN])
def test_a_marker_inside_a_publisher_value_does_not_corrupt_the_next_pin(
    tmp_path: Path, marker: str
) -> None:
    """A marker counts only as a whole line: a publisher value (unsigned) may hold its text."""
    path = tmp_path / "verify-release.toml"
    path.write_text('# my notes\n[packages.zz]\nskip = ["vulnerabilities"]\n', "utf-8")
    observed = {
        _name("aaa"): Observed(REPO, "release.yml", f"x{marker}"),
        _name("bbb"): Observed(REPO, "release.yml", "pypi"),
    }
    apply_pins(path, observed)
    assert load_policy_file(path).pinned == {"aaa", "bbb"}
    apply_pins(path, observed)  # the same observation again: nothing should change
    loaded = load_policy_file(path)  # today: PolicyError "not valid TOML"
    assert loaded.pinned == {"aaa", "bbb"}
    assert loaded.publishers[_name("aaa")].environment == f"x{marker}"
    assert path.read_text("utf-8").startswith(
        '# my notes\n[packages.zz]\nskip = ["vulnerabilities"]\n'
    )


def _pinned_block(tmp_path: Path, drop: str) -> str:
    scratch = tmp_path / "scratch" / "verify-release.toml"
    scratch.parent.mkdir()
    apply_pins(scratch, {_name("aaa"): Observed(REPO, "release.yml", None)})
    return scratch.read_text("utf-8").replace(drop + "\n", "")


INLINE = 'publishers = { foo = { repository = "https://github.com/o/foo" } }\n'


@pytest.mark.parametrize(
    "case", ["inline", "pyproject-inline", "no-end-marker", "no-begin-marker", "too-big"]
)
def test_pin_never_writes_a_policy_file_that_does_not_load(tmp_path: Path, case: str) -> None:
    """``pin`` loads the text it would write by the policy rules first, or leaves the file.

    Each case loads before: publishers as an inline table (a block would redeclare it), a block
    that lost its end or begin marker line (a second block would be appended beside it), and
    unsigned publisher values that would push the file past ``MAX_POLICY_BYTES``.
    """
    name = "pyproject.toml" if case.startswith("pyproject") else "verify-release.toml"
    observed = {_name("bar"): Observed(REPO, "release.yml", None)}
    if case == "inline":
        text = INLINE
    elif case == "pyproject-inline":
        text = '[project]\nname = "x"\n\n[tool.verify-release]\n' + INLINE
    elif case == "no-end-marker":
        text = _pinned_block(tmp_path, PIN_END)
        observed[_name("aaa")] = Observed(REPO, "release.yml", None)
    elif case == "no-begin-marker":
        text = _pinned_block(tmp_path, PIN_BEGIN)
        observed[_name("aaa")] = Observed(REPO, "release.yml", None)
    else:
        text = ""
        big = "e" * (1024 * 1024 + 512 * 1024)
        observed = {_name(f"p{n}"): Observed(REPO, "release.yml", big) for n in range(3)}
    path = tmp_path / name
    path.write_text(text, "utf-8")
    if text:
        load_policy_file(path)  # valid before
    try:
        apply_pins(path, observed)
    except VerifierError:
        assert path.read_text("utf-8") == text  # refused: the file is as it was
        return
    loaded = load_policy_file(path)  # today: "not valid TOML" / "larger than ... bytes"
    assert set(observed) <= loaded.pinned


def test_the_pin_lock_is_the_files_not_the_names(tmp_path: Path) -> None:
    """Two ``pin`` runs reaching one file by two names (a symlink) take turns on one lock."""
    real = tmp_path / "verify-release.toml"
    real.write_text("", "utf-8")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    done = threading.Event()

    def other_run() -> None:
        apply_pins(link, {_name("bar"): Observed(REPO, "release.yml", None)})
        done.set()

    with atomic.locked(real):  # a first pin run, between its read and its write
        worker = threading.Thread(target=other_run)
        worker.start()
        waited = not done.wait(1.5)
    worker.join(10)
    assert waited, "a second pin run wrote the file while the first one held its lock"


@pytest.mark.parametrize("mac_key", [b"k" * 32, None], ids=["cache", "evidence"])
def test_a_symlinked_shard_is_not_written_through(tmp_path: Path, mac_key: bytes | None) -> None:
    """A shard folder planted as a symlink (a poisoned CI cache) is refused, never written into.

    Neither an entry nor its lock file lands outside the directory, and the entry is a miss.
    """
    root = tmp_path / "cache"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    key = "ab" + "0" * 62
    (root / "ab").symlink_to(outside, target_is_directory=True)
    store = ResponseStore(root, mac_key=mac_key)
    with contextlib.suppress(UnwritableStore):
        store.save(
            key,
            url="https://pypi.org/simple/x/",
            status=200,
            content_type="text/html",
            etag=None,
            cache_control=None,
            body=b"body",
        )
    assert sorted(p.name for p in outside.iterdir()) == []
    (outside / f"{key}.json").write_text("{}")
    assert store.load(key) is None
    assert sorted(p.name for p in outside.iterdir()) == [f"{key}.json"]


def test_a_symlinked_shard_is_named_when_saving(tmp_path: Path) -> None:
    """Saving through a symlinked shard says why the store is unusable."""
    root = tmp_path / "cache"
    root.mkdir()
    (root / "ab").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnwritableStore) as info:
        ResponseStore(root).save(
            "ab" + "0" * 62,
            url="https://pypi.org/simple/x/",
            status=200,
            content_type="text/html",
            etag=None,
            cache_control=None,
            body=b"body",
        )
    assert info.value.message == (
        f"cannot write a stored response under {root}: a shard folder in it is a symlink"
    )


def test_the_temporary_file_is_never_wider_than_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is 0600 until its final mode is set, just before the rename.

    A reader who opened a wider file in that window would keep reading what is written after.
    """
    path = tmp_path / "private.json"
    path.write_text("old", "utf-8")
    path.chmod(0o600)
    seen: list[int] = []
    real_fchmod = os.fchmod

    def spy(fd: int, mode: int) -> None:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", spy)
    old = os.umask(0o022)
    atomic._UMASK.clear()  # the tool reads the umask once; this test changed it
    try:
        atomic.write_text(path, "new secret")
    finally:
        os.umask(old)
        atomic._UMASK.clear()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(mode & 0o077 == 0 for mode in seen), f"temp file was {oct(seen[0])} before chmod"


def test_a_new_file_gets_new_mode_less_the_umask(tmp_path: Path) -> None:
    """A new file ends with ``new_mode`` less the umask, as ``open`` would have made it."""
    path = tmp_path / "report.json"
    old = os.umask(0o027)
    atomic._UMASK.clear()  # the tool reads the umask once; this test changed it
    try:
        atomic.write_text(path, "{}")
    finally:
        os.umask(old)
        atomic._UMASK.clear()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_terminated_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    """SIGTERM mid-write (a cancelled CI job) unwinds: the target survives, no temporary file.

    The child installs the SIGTERM handler the console script installs.
    """
    import signal
    import subprocess
    import sys

    target = tmp_path / "verify-release.toml"
    target.write_text("keep\n", "utf-8")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from verifier import atomic\n"
        "atomic.terminate_as_exception()\n"
        "def chunks():\n"
        "    yield b'x' * 1000\n"
        "    print('mid', flush=True)\n"
        "    time.sleep(60)\n"
        "    yield b'y'\n"
        "try:\n"
        "    atomic.write_chunks(Path(sys.argv[1]), chunks())\n"
        "except atomic.Terminated:\n"
        "    sys.exit(143)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "mid"
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 143
    assert target.read_text("utf-8") == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["verify-release.toml"]


def test_a_symlinked_lock_file_is_named(tmp_path: Path) -> None:
    """A symlink planted as the lock file is refused, and the error names the lock file."""
    path = tmp_path / "verify-release.toml"
    lock = tmp_path / ".verify-release.toml.lock"
    lock.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(VerifierError) as info, atomic.locked(path):
        pass
    assert info.value.message == (
        f"cannot write {lock} (Too many levels of symbolic links); the file was not changed"
    )
