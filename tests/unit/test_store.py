"""The cache and the evidence directory are untrusted input.

Entries are written by a real run (``HttpClient`` against a loopback server), then damaged the
ways a disk, a hand edit or an attacker who can write the directory would: a damaged cache entry
is a miss (fetched again), a damaged evidence entry is a ``NetworkError`` naming the entry, and
neither is ever a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import entries
from tests.servers import LoopbackServer, Route
from verifier.errors import NetworkError
from verifier.http import HttpClient, HttpConfig
from verifier.store import (
    FORMAT_TAG,
    MAX_METADATA_BYTES,
    ResponseStore,
    UnreadableEntry,
    UnwritableStore,
    response_key,
)

CONFIG = HttpConfig(connect_timeout=1.0, read_timeout=1.0, deadline=3.0, backoff=0.01)
BODY = b'{"meta": {"api-version": "1.1"}}'
WHAT = "index page for p"


def _write_json(value: Any) -> Callable[[Path, Path], None]:
    def corrupt(entry: Path, outside: Path) -> None:
        entries.edit(entry, meta=value)

    return corrupt


def _with(**changes: Any) -> Callable[[Path, Path], None]:
    def corrupt(entry: Path, outside: Path) -> None:
        entries.edit(entry, meta={**entries.read(entry).metadata(), **changes})

    return corrupt


def _truncate(entry: Path, outside: Path) -> None:
    found = entries.read(entry)
    entry.write_bytes(b"\n".join((found.tag, found.mac, found.meta[:20])))


def _not_utf8(entry: Path, outside: Path) -> None:
    entries.write(entry, entries.read(entry), meta=b'{"url": "\xff\xfe"}')


def _huge(entry: Path, outside: Path) -> None:
    entries.edit(entry, meta={**entries.read(entry).metadata(), "etag": "x" * MAX_METADATA_BYTES})


def _head_only(entry: Path, outside: Path) -> None:
    entry.write_bytes(entries.read(entry).tag + b"\n")


def _empty(entry: Path, outside: Path) -> None:
    entry.write_bytes(b"")


def _older_format(entry: Path, outside: Path) -> None:
    found = entries.read(entry)
    entries.write(entry, found, mac=b"x" * 64)
    entry.write_bytes(
        entry.read_bytes().replace(FORMAT_TAG.encode(), b"verify-release response store 2")
    )


def _symlink(entry: Path, outside: Path) -> None:
    outside.write_bytes(entry.read_bytes())
    entry.unlink()
    entry.symlink_to(outside)


def _fifo(entry: Path, outside: Path) -> None:
    entry.unlink()
    os.mkfifo(entry)


def _directory(entry: Path, outside: Path) -> None:
    entry.unlink()
    entry.mkdir()


NOT_OURS = f"entry is not a {FORMAT_TAG!r} entry"
CORRUPTIONS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "truncated JSON": (_truncate, "metadata is not valid JSON"),
    "not UTF-8": (_not_utf8, "metadata is not valid JSON"),
    "a JSON list": (_write_json([1, 2]), "metadata is not a JSON object"),
    "a JSON string": (_write_json("url"), "metadata is not a JSON object"),
    "url missing": (_with(url=None), "metadata field 'url' is not a str"),
    "url a number": (_with(url=5), "metadata field 'url' is not a str"),
    "status a string": (_with(status="200"), "metadata field 'status' is not a int"),
    "status a boolean": (_with(status=True), "metadata field 'status' is not a int"),
    "status out of range": (
        _with(status=99999),
        "metadata field 'status' is not an HTTP status (99999)",
    ),
    "stored_at a string": (_with(stored_at="now"), "metadata field 'stored_at' is not a timestamp"),
    "stored_at NaN": (
        _with(stored_at=float("nan")),
        "metadata field 'stored_at' is not a timestamp",
    ),
    "etag a list": (_with(etag=["x"]), "metadata field 'etag' is not a str"),
    "max_age a string": (_with(max_age="600"), "metadata field 'max_age' is not a int"),
    "content_type an object": (
        _with(content_type={}),
        "metadata field 'content_type' is not a str",
    ),
    "huge metadata": (_huge, f"metadata larger than {MAX_METADATA_BYTES} bytes"),
    "cut after its format line": (_head_only, NOT_OURS),
    "empty": (_empty, NOT_OURS),
    "an older format": (_older_format, NOT_OURS),
    "a symlink": (_symlink, "entry file cannot be opened (Too many levels of symbolic links)"),
    "a FIFO": (_fifo, "entry is not a regular file"),
    "a directory": (_directory, "entry is not a regular file"),
}


@pytest.fixture
def recorded(server: LoopbackServer, tmp_path: Path) -> tuple[str, Path]:
    """A real run's cache and evidence entry for one index page; yields (url, tmp_path)."""
    server.route(
        "/simple/p/",
        Route(body=BODY, content_type="application/json", headers={"Cache-Control": "max-age=600"}),
    )
    url = f"{server.url}/simple/p/"
    http = HttpClient(
        CONFIG, cache=ResponseStore(tmp_path / "cache"), evidence=ResponseStore(tmp_path / "ev")
    )
    try:
        assert http.get(url, what=WHAT, cache="revalidate").content == BODY
    finally:
        http.close()
    (tmp_path / "outside").write_bytes(b"not the entry")
    return url, tmp_path


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_damaged_cache_entry_is_a_miss_and_is_fetched_again(
    corruption: str, recorded: tuple[str, Path], server: LoopbackServer
) -> None:
    url, tmp = recorded
    damage, _ = CORRUPTIONS[corruption]
    damage(entries.url_entry(tmp / "cache", url), tmp / "outside")
    http = HttpClient(CONFIG, cache=ResponseStore(tmp / "cache"))
    try:
        assert http.get(url, what=WHAT, cache="revalidate").content == BODY
    finally:
        http.close()
    assert server.routes["/simple/p/"].hits == 2


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_damaged_evidence_entry_is_a_network_error_naming_it(
    corruption: str, recorded: tuple[str, Path]
) -> None:
    url, tmp = recorded
    damage, reason = CORRUPTIONS[corruption]
    damage(entries.url_entry(tmp / "ev", url), tmp / "outside")
    http = HttpClient(CONFIG, evidence=ResponseStore(tmp / "ev"), replay=True)
    with pytest.raises(NetworkError) as info:
        http.get(url, what=WHAT)
    assert info.value.message == (
        f"{WHAT}: the evidence directory's entry for {url} is unusable: {reason}"
    )
    assert info.value.hint == "record it again with `verify-release fetch --out DIR`"
    # A download replayed from the same entry says the same.
    with pytest.raises(NetworkError) as download:
        http.download(url, tmp / "dl" / "file", what=WHAT)
    assert download.value.message == info.value.message
    assert not (tmp / "dl" / "file").exists()


def test_a_missing_evidence_entry_is_reported_as_missing(recorded: tuple[str, Path]) -> None:
    url, tmp = recorded
    shutil.rmtree(tmp / "ev")
    http = HttpClient(CONFIG, evidence=ResponseStore(tmp / "ev"), replay=True)
    with pytest.raises(NetworkError) as info:
        http.get(url, what=WHAT)
    assert info.value.message == f"{WHAT}: not in the evidence directory ({url})"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        name: _JSON for name in ("url", "status", "content_type", "etag", "max_age", "stored_at")
    },
)


@settings(max_examples=150, deadline=None)
@given(
    metadata=st.one_of(
        st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),  # metadata is one line
        _FIELDS.map(lambda d: json.dumps(d).encode()),
    )
)
def test_any_metadata_is_an_entry_or_unreadable_never_a_crash(
    metadata: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("store")
    store = ResponseStore(root)
    store.save(
        "ab" + "0" * 62,
        url="https://h.example/",
        status=200,
        content_type="",
        etag=None,
        cache_control=None,
        body=b"x",
    )
    entry = entries.entry_path(root, "ab" + "0" * 62)
    entries.write(entry, entries.read(entry), meta=metadata)
    try:
        stored = store.read("ab" + "0" * 62)
    except UnreadableEntry:
        assert store.load("ab" + "0" * 62) is None
        return
    assert stored is not None
    assert isinstance(stored.url, str)
    assert 100 <= stored.status <= 599
    assert stored.body() == b"x"
    stored.fresh()
    store.touch("ab" + "0" * 62)


def test_an_unwritable_cache_is_skipped_and_unwritable_evidence_stops_the_recording(
    server: LoopbackServer, tmp_path: Path
) -> None:
    server.route("/p", Route(body=BODY, headers={"Cache-Control": "max-age=600"}))
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    http = HttpClient(CONFIG, cache=ResponseStore(blocked))
    assert http.get(f"{server.url}/p", what=WHAT, cache="revalidate").content == BODY
    recording = HttpClient(CONFIG, evidence=ResponseStore(blocked))
    with pytest.raises(UnwritableStore) as info:
        recording.get(f"{server.url}/p", what=WHAT)
    assert info.value.message == f"cannot write a stored response under {blocked}: Not a directory"


def _cache_entry(tmp_path: Path, body: bytes) -> tuple[ResponseStore, str, Path]:
    store = ResponseStore(tmp_path / "cache", mac_key=b"k" * 32)
    key = response_key("https://index.example/simple/p/", None)
    store.save(
        key,
        url="https://index.example/simple/p/",
        status=200,
        content_type="x",
        etag='"1"',
        cache_control="max-age=60",
        body=body,
    )
    return store, key, entries.entry_path(tmp_path / "cache", key)


def test_a_small_body_is_read_and_checked_once_with_its_metadata(tmp_path: Path) -> None:
    # Another run replacing the body after the read cannot mix: the body read with the
    # metadata, already checked against its digest, is the one returned, with no second open.
    store, key, path = _cache_entry(tmp_path, BODY)
    stored = store.read(key)
    assert stored is not None
    entries.edit(path, body=b"another run's body")
    assert stored.body() == BODY


def test_a_large_body_is_streamed_and_checked_again(tmp_path: Path) -> None:
    large = b"x" * (1024 * 1024 + 1)
    store, key, path = _cache_entry(tmp_path, large)
    stored = store.read(key)
    assert stored is not None
    assert stored.body() == large
    entries.edit(path, body=b"y" * len(large))  # in place: the same file, another body
    with pytest.raises(UnreadableEntry) as info:
        stored.body()
    assert str(info.value) == "its body was replaced by another run since it was read"


def test_each_shard_folder_is_checked_once_per_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, key, _ = _cache_entry(tmp_path, BODY)
    checked: list[str] = []
    real_lstat = os.lstat

    def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        checked.append(str(path))
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", lstat)
    for _ in range(3):
        assert store.read(key) is not None
    assert checked == []  # the save checked it already
    fresh = ResponseStore(tmp_path / "cache", mac_key=b"k" * 32)
    for _ in range(3):
        assert fresh.read(key) is not None
    # The store's own folder, then the shard's: each once (a symlink planted as either is refused).
    assert checked == [str(tmp_path / "cache"), str(tmp_path / "cache" / key[:2])]


def test_a_save_makes_a_shard_folder_again_after_another_run_removed_it(tmp_path: Path) -> None:
    store, key, path = _cache_entry(tmp_path, BODY)
    shutil.rmtree(path.parent)
    store.save(
        key,
        url="https://index.example/simple/p/",
        status=200,
        content_type="x",
        etag='"2"',
        cache_control="max-age=60",
        body=BODY,
    )
    found = store.read(key)
    assert found is not None
    assert (found.etag, found.body()) == ('"2"', BODY)


def test_a_large_evidence_body_from_an_entry_replaced_since_it_was_read_is_unusable(
    tmp_path: Path,
) -> None:
    # The evidence directory has no MAC: the body of a large entry is streamed after its head
    # was read, and must come from that very file, not from one another run renamed over it
    # (its body would sit at another offset, under other metadata).
    store = ResponseStore(tmp_path / "ev")
    key = response_key("https://index.example/p.tar.gz", None)
    large = b"x" * (1024 * 1024 + 1)

    def record(body: bytes, etag: str) -> None:
        store.save(
            key,
            url="https://index.example/p.tar.gz",
            status=200,
            content_type="",
            etag=etag,
            cache_control=None,
            body=body,
        )

    record(large, "1")
    stored = store.read(key)
    assert stored is not None
    assert stored.verified_body is None
    with stored.open_body() as handle:
        assert handle.read() == large
    record(b"y" * len(large), "a much longer validator than the first one")
    with pytest.raises(UnreadableEntry) as info, stored.open_body() as handle:
        handle.read()
    assert str(info.value) == "its body was replaced by another run since it was read"


def test_entries_of_the_previous_format_are_misses(tmp_path: Path) -> None:
    # Version 2 kept KEY.json and KEY.body; version 3 never opens them.
    key = response_key("https://index.example/simple/p/", None)
    shard = tmp_path / "cache" / key[:2]
    shard.mkdir(parents=True)
    meta = {"url": "https://index.example/simple/p/", "status": 200, "stored_at": 1.0}
    (shard / f"{key}.json").write_text(json.dumps(meta))
    (shard / f"{key}.body").write_bytes(BODY)
    assert ResponseStore(tmp_path / "cache").read(key) is None
    assert ResponseStore(tmp_path / "cache", mac_key=b"k" * 32).read(key) is None


def test_a_replayed_page_is_served_from_its_one_read(
    recorded: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small recorded body was read (and kept) with its metadata: no second open."""
    url, tmp = recorded
    opened: list[str] = []
    real = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    http = HttpClient(CONFIG, evidence=ResponseStore(tmp / "ev"), replay=True)
    assert http.get(url, what=WHAT).content == BODY
    assert opened == [str(entries.url_entry(tmp / "ev", url))]
