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
    found = store.load(key)
    if found is not None and n % 3 == 0:
        store.touch(key, found.body_sha256)  # a read-check-rewrite racing the others' saves
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
        f"{tmp_path / KEY[:2] / (KEY + '.entry')} (No space left on device); the file was not "
        "changed"
    )
    monkeypatch.setattr(os, "write", real)
    found = store.load(KEY)
    assert found is not None
    assert (found.etag, found.body()) == ("one", b"first")
    assert not isinstance(caught.value, UnwritableFile)


def test_threads_writing_one_key_leave_a_whole_entry(tmp_path: Path) -> None:
    """Threads of one process saving one key at once: the last rename's entry, whole."""
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


def test_a_save_is_one_file_created_and_renamed_and_a_read_one_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file per entry, no lock: the per-entry cost of a cold run's 800 saves and a warm
    run's 800 reads is one create, one write and one rename, and one open and one read."""
    (tmp_path / "cache").mkdir()
    calls: list[str] = []
    for name in ("open", "replace", "write", "read", "mkdir", "lstat", "stat"):
        real = getattr(os, name)

        def spy(
            *args: object, _real: Callable[..., object] = real, _name: str = name, **kw: object
        ) -> object:
            calls.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(os, name, spy)
    store = ResponseStore(tmp_path / "cache", mac_key=MAC)
    keys = [response_key(f"https://pypi.org/simple/p{n}/", None) for n in range(40)]
    shards = {key[:2] for key in keys}
    for key in keys:
        _save(store, key)
    assert calls.count("replace") == len(keys)
    assert calls.count("open") == len(keys)
    assert calls.count("write") == len(keys)
    # The store's folder and each shard folder, made once per store.
    assert calls.count("mkdir") == len(shards) + 1
    assert calls.count("lstat") == len(keys) + 1  # checked before each write (its own, once)
    files = sorted(
        p.relative_to(tmp_path / "cache").as_posix()
        for p in (tmp_path / "cache").rglob("*")
        if p.is_file()
    )
    assert files == sorted(f"{key[:2]}/{key}.entry" for key in keys)  # no lock, no temp file
    calls.clear()
    reader = ResponseStore(tmp_path / "cache", mac_key=MAC)
    for key in keys:
        found = reader.read(key)
        assert found is not None
        assert found.body() == b"page " + key.encode()
    assert calls.count("open") == len(keys)
    assert calls.count("read") == len(keys)
    assert calls.count("lstat") == len(shards) + 1
    assert "replace" not in calls


def _save(store: ResponseStore, key: str = KEY) -> None:
    store.save(
        key,
        url="u",
        status=200,
        content_type="",
        etag=None,
        cache_control="max-age=60",
        body=b"page " + key.encode(),
    )


def test_a_save_landing_during_a_touch_leaves_one_whole_authenticated_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``touch`` takes no lock: another run's save between its check and its rename loses to
    the revalidated entry (the one the server just confirmed), which is whole and this user's."""
    from verifier import atomic

    store = ResponseStore(tmp_path / "cache", mac_key=MAC)

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

    save("old", b"old page")
    served = store.read(KEY)
    assert served is not None
    real = atomic.write_chunks
    raced: list[str] = []

    def racing(*args: object, **kwargs: object) -> None:
        if not raced:
            raced.append("new")
            save("new", b"new page")  # another run, between touch's read and its rename
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic, "write_chunks", racing)
    store.touch(KEY, served.body_sha256)
    assert raced == ["new"]
    found = ResponseStore(tmp_path / "cache", mac_key=MAC).read(KEY)
    assert found is not None
    assert (found.etag, found.body()) == ("old", b"old page")
    assert found.stored_at > served.stored_at


def test_a_shard_folder_swapped_for_a_symlink_after_a_save_is_not_written_through(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    store = ResponseStore(root, mac_key=MAC)
    _save(store)
    elsewhere = tmp_path / "elsewhere"
    (root / KEY[:2]).rename(elsewhere)
    (root / KEY[:2]).symlink_to(elsewhere)
    with pytest.raises(UnwritableStore) as caught:
        _save(store)
    assert caught.value.message == (
        f"cannot write a stored response under {root}: a shard folder in it is a symlink"
    )


class _Writes:
    """Stands in for ``verifier.writer.BackgroundWrites``: takes entries, or refuses them."""

    def __init__(self, takes: bool) -> None:
        self.takes = takes
        self.handed: list[tuple[str, bytes]] = []

    def submit(self, files: object, key: str, data: bytes) -> bool:
        if self.takes:
            self.handed.append((key, data))
        return self.takes


@pytest.mark.parametrize("takes", [True, False])
def test_an_entry_goes_to_the_background_writer_or_is_written_here(
    tmp_path: Path, takes: bool
) -> None:
    store = ResponseStore(tmp_path, mac_key=b"k" * 32)
    writes = _Writes(takes)
    store.writes = writes  # type: ignore[assignment]
    key = response_key("https://pypi.org/simple/demo/", "application/json")
    store.save(
        key,
        url="https://pypi.org/simple/demo/",
        status=200,
        content_type="text/html",
        etag='"x"',
        cache_control="max-age=60",
        body=b"page",
    )
    on_disk = list(tmp_path.glob("*/*.entry"))
    if takes:
        # Handed over whole (MAC and all) and not written here: the writer writes it.
        assert on_disk == []
        ((handed_key, data),) = writes.handed
        assert handed_key == key
        assert data.endswith(b"page")
        entry = tmp_path / key[:2] / f"{key}.entry"
        entry.parent.mkdir()
        entry.write_bytes(data)
        stored = store.read(key)
        assert stored is not None
        assert stored.body() == b"page"
    else:
        # A writer that is gone: the store writes the entry itself.
        assert len(on_disk) == 1
        stored = store.read(key)
        assert stored is not None
        assert stored.body() == b"page"
