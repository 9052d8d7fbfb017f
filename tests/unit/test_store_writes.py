"""The cache and the evidence directory under parallel writers (a CI matrix sharing a cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.errors import UnwritableFile
from verifier.store import ResponseStore, UnwritableStore, response_key

ROOT = Path(__file__).resolve().parents[2]
KEY = response_key("https://pypi.org/simple/sampleproject/", "application/json")
MAC = b"k" * 32

_WRITER = """
import sys
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
