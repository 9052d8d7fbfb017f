"""The cache and the evidence directory under parallel writers (a CI matrix sharing a cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from verifier.errors import UnwritableFile
from verifier.store import ResponseStore, UnwritableStore, response_key

ROOT = Path(__file__).resolve().parents[2]
KEY = response_key("https://pypi.org/simple/sampleproject/", "application/json")
MAC = b"k" * 32

_WRITER = """
import sys
from collections.abc import Callable
from pathlib import Path
from verifier.store import ResponseStore, UnreadableEntry
root, me, key = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = ResponseStore(root, mac_key=b"k" * 32)
for n in range(150):
    body = f"{me}-{n}".encode() * (1 + n % 7) * 500
    store.save(key, url="https://pypi.org/simple/sampleproject/", status=200,
               content_type="application/json", etag=f"{me}-{n}", cache_control="max-age=60",
               body=body)
    if n % 10 == 0:
        store.touch(key)
    found = store.load(key)
    try:
        body = found.body() if found is not None else None
    except UnreadableEntry:
        body = None  # replaced since its metadata was read: a miss, as the cache treats it
    if found is not None and body is not None:
        tag = found.etag or ""
        assert body == tag.encode() * (1 + int(tag.rsplit("-", 1)[1]) % 7) * 500, tag
"""


def test_parallel_writers_leave_every_entry_whole_and_its_own(tmp_path: Path) -> None:
    """Four processes write one key 150 times: every read is a miss or a matching pair."""
    root = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), f"p{i}", KEY],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], "\n".join(errors)
    found = ResponseStore(root, mac_key=MAC).load(KEY)
    assert found is not None
    assert found.etag is not None
    me, n = found.etag.rsplit("-", 1)
    assert found.body() == found.etag.encode() * (1 + int(n) % 7) * 500
    assert me in {"p0", "p1", "p2", "p3"}
    leftovers = [p.name for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_an_unwritable_store_says_so(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    (root / KEY[:2]).write_text("a file where a folder belongs")
    store = ResponseStore(root)
    with pytest.raises(UnwritableStore) as caught:
        store.save(KEY, url="u", status=200, content_type="", etag=None, cache_control=None)
    assert caught.value.message == f"cannot write a stored response under {root}: File exists"


def test_a_failed_entry_write_keeps_the_old_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResponseStore(tmp_path, mac_key=MAC)

    def save(etag: str, body: bytes) -> None:
        store.save(
            KEY,
            url="u",
            status=200,
            content_type="",
            etag=etag,
            cache_control="max-age=60",
            body=body,
        )

    save("one", b"first")
    real = os.write

    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    # Cache entries are not fsynced (atomic.write_chunks, durable=False): a full disk shows
    # at the write.
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(UnwritableStore) as caught:
        save("two", b"second")
    assert caught.value.message == (
        f"cannot write a stored response under {tmp_path}: cannot write "
        f"{tmp_path / KEY[:2] / (KEY + '.body')} (No space left on device); the file was not "
        "changed"
    )
    monkeypatch.setattr(os, "write", real)
    found = store.load(KEY)
    assert found is not None
    assert (found.etag, found.body()) == ("one", b"first")
    assert not isinstance(caught.value, UnwritableFile)


def test_threads_writing_one_key_leave_a_whole_entry(tmp_path: Path) -> None:
    """Record locks never exclude threads of one process: each stripe is a thread lock too."""
    import threading

    store = ResponseStore(tmp_path / "cache", mac_key=MAC)
    for round_ in range(40):
        start = threading.Barrier(6)

        def write(me: int, round_: int = round_, start: threading.Barrier = start) -> None:
            body = f"t{me}-{round_}".encode() * (1 + me) * 2000
            start.wait()
            store.save(
                KEY,
                url="u",
                status=200,
                content_type="",
                etag=f"t{me}-{round_}",
                cache_control="max-age=60",
                body=body,
            )

        threads = [threading.Thread(target=write, args=(me,)) for me in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found = store.read(KEY)  # a mismatched pair would raise UnreadableEntry
        assert found is not None
        assert found.etag is not None
        me = int(found.etag.split("-")[0][1:])
        assert found.body() == found.etag.encode() * (1 + me) * 2000


def _save(store: ResponseStore) -> None:
    store.save(KEY, url="u", status=200, content_type="", etag=None, cache_control=None, body=b"")


def test_one_lock_file_per_directory_found_again_when_the_directory_is_made_again(
    tmp_path: Path,
) -> None:
    import shutil

    root = tmp_path / "cache"
    _save(ResponseStore(root))
    assert sorted(p.name for p in root.rglob("*") if "lock" in p.name) == [".locks"]
    shutil.rmtree(root)  # the process still has the old one open: it is not the new one's
    _save(ResponseStore(root))
    assert (root / ".locks").is_file()
    assert os.stat(root / ".locks").st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("plant", "reason"),
    [
        (
            lambda lock: lock.symlink_to(lock.parent.parent / "elsewhere"),
            "Too many levels of symbolic links",
        ),
        (lambda lock: os.mkfifo(lock), "its lock file is not a regular file"),
        (lambda lock: lock.mkdir(), "Is a directory"),
    ],
    ids=["symlink", "fifo", "directory"],
)
def test_a_foreign_lock_file_makes_the_store_unwritable(
    tmp_path: Path, plant: Callable[[Path], object], reason: str
) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    plant(root / ".locks")
    with pytest.raises(UnwritableStore) as caught:
        _save(ResponseStore(root))
    assert caught.value.message == f"cannot write a stored response under {root}: {reason}"
    assert not (tmp_path / "elsewhere").exists()
