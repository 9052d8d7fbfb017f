"""Stored HTTP responses: the on-disk cache and the air-gapped evidence directory.

Both are a directory of responses keyed by (URL, Accept). The cache saves bandwidth (index
pages revalidated with ETag and Cache-Control, provenance kept forever because it is
immutable); the evidence directory (``verify-release fetch``) records every response a
verification needs so that ``--evidence DIR`` can replay them with no network at all, through
the very same code path, and therefore reach the same verdicts.

Stored bodies are never trusted more than fresh ones: everything read back is verified again.
Neither is the directory itself: an entry may be truncated, hand-edited, a directory or a
symlink where a file belongs, or a huge file. ``read`` says why an entry is unusable
(``UnreadableEntry``); ``load`` turns that into a miss, which is what a cache wants (fetch
again), while the evidence replay reports it as the evidence being unusable.

What is written holds no credentials: the URL in an entry's metadata is redacted
(``verifier.urls.redact_url``), while the key is a digest of the real URL, so the same request
keeps finding its entry. The reader restores the credentials from the URL it asked for
(``Stored.url_for``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import math
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from verifier import atomic
from verifier.errors import UnwritableFile, UsageError
from verifier.urls import MASK, redact_url

if TYPE_CHECKING:
    from verifier.writer import BackgroundWrites

MAX_METADATA_BYTES = 64 * 1024
"""An entry's metadata is a few hundred bytes; anything larger is not ours."""


class UnreadableEntry(Exception):
    """A stored entry exists but cannot be used; the message says why, in a few words."""


class _MissingFile(UnreadableEntry):
    """The file is not there at all (for metadata: no entry, a miss rather than damage)."""


KEEP_BODY_BYTES = 1024 * 1024
"""Bodies up to this size are kept in memory by ``read`` (index pages, provenance); larger
ones (downloads) are streamed from the file."""


class UnwritableStore(UsageError):
    """An entry cannot be written: the directory is read-only, full, or holds a foreign object.

    The HTTP client ignores it for the cache (a cache is an optimisation) and lets it stop a
    recording run (``fetch --out``), whose whole point is the evidence directory.
    """


MAX_FRESH_SECONDS = 600
"""The longest a stored response is used without asking the server again (PyPI's own max-age
for simple pages is 600 s): a longer max-age in stored metadata is not believed."""


@dataclass(frozen=True)
class Stored:
    """One stored response."""

    url: str
    status: int
    content_type: str
    etag: str | None
    max_age: int | None
    stored_at: float
    body_path: Path
    body_sha256: str | None = None
    """The digest the entry was stored with (the cache): ``body`` returns only that body."""
    verified_body: bytes | None = field(default=None, repr=False, compare=False)
    """The body ``ResponseStore.read`` read and checked (small bodies): ``body`` returns it
    without opening the file again, so it is the very body the metadata was read with."""
    body_offset: int = 0
    """Where the body starts in ``body_path`` (the entry file: its head comes first)."""
    identity: tuple[int, int] | None = field(default=None, repr=False, compare=False)
    """The entry file's device and inode when it was read: a large body streamed later
    (``open_body``) must come from that very file, not from one another run renamed over it."""

    def fresh(self, now: float | None = None) -> bool:
        """Within its Cache-Control max-age, capped at ``MAX_FRESH_SECONDS``.

        The cache is untrusted input: an entry dated in the future, or with a huge max-age
        (planted in a shared CI cache, say), would otherwise be served without a request for
        ever, hiding files the index added since. Such an entry is simply revalidated.
        """
        if self.max_age is None:
            return False
        age = (now if now is not None else time.time()) - self.stored_at
        return 0 <= age < min(self.max_age, MAX_FRESH_SECONDS)

    def body(self) -> bytes:
        """The stored body; ``UnreadableEntry`` when it is missing, a symlink or not a file.

        A cache entry's body is checked against its digest again as it is read: another run may
        have replaced the entry since its metadata was read, and its body then belongs to other
        metadata (another ETag). That is a miss, never a mix. A small body was read and checked
        with its metadata already (``verified_body``).
        """
        if self.verified_body is not None:
            return self.verified_body
        with self.open_body() as handle:
            data: bytes = handle.read()
        if self.body_sha256 is not None and hashlib.sha256(data).hexdigest() != self.body_sha256:
            raise UnreadableEntry("its body was replaced by another run since it was read")
        return data

    @contextlib.contextmanager
    def open_body(self) -> Iterator[BinaryIO]:
        """The stored body as an open file, for streaming large bodies (downloads).

        The file must still be the one read (``identity``): an entry replaced since has its
        body at another offset, under other metadata. That is unusable, never a mix.
        """
        fd, info = _open_regular_fd(self.body_path, "entry")
        with os.fdopen(fd, "rb") as handle:
            if self.identity is not None and (info.st_dev, info.st_ino) != self.identity:
                raise UnreadableEntry("its body was replaced by another run since it was read")
            handle.seek(self.body_offset)
            yield handle

    def url_for(self, requested: str) -> str:
        """The stored final URL, with the credentials of ``requested`` put back.

        Metadata holds redacted URLs; the page URL matters because the relative file URLs of an
        index page are resolved against it and must reach the index with its credentials.
        Without a redirect the stored URL is the requested one; after a same-host redirect the
        user information of the request is restored when the host is the same.
        """
        if self.url == redact_url(requested):
            return requested
        prefix = f"{MASK}@"
        scheme, separator, rest = self.url.partition("://")
        want_scheme, _, want_rest = requested.partition("://")
        if separator and rest.startswith(prefix) and "@" in want_rest.split("/", 1)[0]:
            userinfo, _, host_rest = want_rest.partition("@")
            own_host = host_rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            stored_host = rest[len(prefix) :].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            if scheme == want_scheme and own_host.lower() == stored_host.lower():
                return f"{scheme}://{userinfo}@{rest[len(prefix) :]}"
        return self.url


def response_key(url: str, accept: str | None) -> str:
    """The file-name-safe key of a response."""
    return hashlib.sha256(f"{accept or ''}\n{url}".encode()).hexdigest()


def max_age(cache_control: str | None) -> int | None:
    """``max-age`` from a Cache-Control header (None for no-store/no-cache/absent)."""
    if not cache_control:
        return None
    directives = [d.strip().lower() for d in cache_control.split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return None
    for directive in directives:
        if directive.startswith("max-age="):
            value = directive.split("=", 1)[1]
            return int(value) if value.isdigit() else None
    return None


FORMAT_TAG = "verify-release response store 3"
"""The first line of every entry file, and part of every MAC.

Version 3 keeps an entry in one file (``KEY.entry``); versions 1 and 2 kept ``KEY.json`` and
``KEY.body``, which this version never opens: an older entry is a miss, never trusted.
"""

_MAGIC = FORMAT_TAG.encode() + b"\n"
_NO_MAC = b"-"
"""The MAC line of an evidence directory's entry (the evidence directory has no key)."""
_MAC_LINE = 64
_ENTRY_SUFFIX = ".entry"


class ResponseStore:
    """A directory of responses, one file per entry, each written whole or not at all.

    An entry is one file, ``ROOT/ab/KEY.entry``::

        verify-release response store 3
        MAC (64 hex digits; "-" in the evidence directory)
        metadata (one line of JSON)
        body (the rest of the file, as received)

    One file is one create, one write and one rename per save and one open per read (two
    files, their two renames and a lock file were most of a cold run's cache cost). It also
    makes concurrent writers safe without a lock: a save is a single ``rename`` of a private
    temporary file over the entry, so a reader (another run, another thread) finds either the
    old entry or the new one, each whole, metadata and body always one writer's pair; with
    two files, one writer's metadata could sit over another's body, which is what the lock
    prevented. Two runs saving the same request at once leave the last rename's entry.
    """

    def __init__(self, root: Path, *, mac_key: bytes | None = None) -> None:
        """``mac_key``: authenticate every entry (the cache); None for the evidence directory.

        A response cache is shared input (a CI cache restored from another job, a directory
        others can write): an entry it holds must be one this user's runs wrote. Otherwise an
        old index page planted under the live ETag would be revalidated by a 304 and hide files
        the index added since. Entries carry an HMAC, keyed by a secret kept outside the cache
        (``cache_key``), over their metadata and the sha256 of their body; one that does not
        match is a miss. The evidence directory is meant to travel, so it has no key; what it
        holds is checked as evidence (signatures, digests) by the run that replays it.
        """
        self.root = root
        self.mac_key = mac_key
        self._files = EntryFiles(root, _ENTRY_SUFFIX)
        self.writes: BackgroundWrites | None = None
        """When set, in-memory entries are written by a background writer process."""

    def _mac(self, key: str, meta: bytes, body_sha256: str) -> bytes:
        """The entry's MAC over the request it answers (``key``), its metadata and body digest.

        The key is in it so that an entry copied over another request's file (another
        project's page, another host's) is not this request's answer: a move is a miss. The
        metadata is authenticated as the bytes on disk, so reading needs no re-encoding.
        """
        assert self.mac_key is not None  # noqa: S101 - only called with a key
        message = b"\n".join((FORMAT_TAG.encode(), key.encode(), meta, body_sha256.encode("ascii")))
        return hmac.new(self.mac_key, message, hashlib.sha256).hexdigest().encode("ascii")

    def _path(self, key: str) -> Path:
        return self._files.path(key)

    def has_older_entry(self, key: str) -> bool:
        """Whether an earlier format's entry for ``key`` is here (``KEY.json``, never read).

        Only to say why an evidence directory recorded by an older verify-release has nothing
        for a request: its entries are not trusted, converted or read in any way.
        """
        return (self.root / key[:2] / f"{key}.json").is_file()

    def load(self, key: str) -> Stored | None:
        """The stored response for ``key``, or None when it is absent or unusable (a miss)."""
        try:
            return self.read(key)
        except UnreadableEntry:
            return None

    def read(self, key: str) -> Stored | None:
        """The stored response for ``key``; None when absent, ``UnreadableEntry`` when unusable.

        Every field is type-checked and the entry must be a regular file (not a symlink, not a
        directory), so that nothing read back can surprise the code that uses it. The file is
        opened once: read whole when small (checked, hashed and kept, so that ``Stored.body``
        needs no second open), else its body is hashed as it is read and streamed again later.
        """
        path = self._path(key)
        try:
            self._files.shards.check(key, create=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UnreadableEntry(f"entry cannot be read ({exc.strerror})") from None
        try:
            fd, info = _open_regular_fd(path, "entry")
        except _MissingFile:
            return None
        try:
            limit = len(_MAGIC) + _MAC_LINE + MAX_METADATA_BYTES + KEEP_BODY_BYTES + 3
            data = _read_up_to(fd, limit, info.st_size)
            head = _parse_head(data)
            digest = None
            if self.mac_key is not None:
                digest = hashlib.sha256(memoryview(data)[head.body_start :])
                if len(data) >= limit:
                    for block in iter(lambda: os.read(fd, 1024 * 1024), b""):
                        digest.update(block)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UnreadableEntry(f"entry cannot be read ({reason})") from None
        finally:
            os.close(fd)
        body_sha256 = None
        if digest is not None:
            body_sha256 = digest.hexdigest()
            if not hmac.compare_digest(head.mac, self._mac(key, head.meta, body_sha256)):
                raise UnreadableEntry("not written by this user's runs (its MAC does not match)")
        meta = _parse_meta(head.meta)
        return Stored(
            url=_field(meta, "url", str),
            status=_status(meta),
            content_type=_field(meta, "content_type", str, default=""),
            etag=_optional(meta, "etag", str),
            max_age=_optional(meta, "max_age", int),
            stored_at=_timestamp(meta),
            body_path=path,
            body_sha256=body_sha256,
            verified_body=(
                data[head.body_start :]
                if len(data) < limit and len(data) - head.body_start <= KEEP_BODY_BYTES
                else None
            ),
            body_offset=head.body_start,
            identity=(info.st_dev, info.st_ino),
        )

    def save(
        self,
        key: str,
        *,
        url: str,
        status: int,
        content_type: str,
        etag: str | None,
        cache_control: str | None,
        body: bytes | None = None,
        body_file: Path | None = None,
    ) -> None:
        """Store a response (``body`` in memory, or a file to copy in); ``UnwritableStore``."""
        self._write(
            key,
            {
                "url": redact_url(url),
                "status": status,
                "content_type": content_type,
                "etag": etag,
                "max_age": max_age(cache_control),
                "stored_at": time.time(),
            },
            body=body or b"",
            body_file=body_file,
        )

    def _write(
        self, key: str, meta: dict[str, Any], *, body: bytes, body_file: Path | None = None
    ) -> None:
        """Write ``key``'s entry whole (one atomic rename) or raise ``UnwritableStore``.

        The MAC needs the body's digest before the body is written: a file to copy in (a
        download) is hashed first and copied next. Had it changed in between, its entry's MAC
        would not match its body: a miss, never a wrong answer.
        """
        raw = json.dumps(meta).encode()  # ASCII, one line: newlines in values are escaped
        try:
            mac = _NO_MAC
            if self.mac_key is not None:
                if body_file is None:
                    digest = hashlib.sha256(body).hexdigest()
                else:
                    digest = sha256_file(body_file)
                mac = self._mac(key, raw, digest)
            head = b"".join((_MAGIC, mac, b"\n", raw, b"\n"))
            if body_file is None:
                data = head + body  # one write: a copy of a small body costs less than a call
                if self.writes is not None and self.writes.submit(self._files, key, data):
                    return
                self._files.write(key, lambda: (data,))
            else:
                self._files.write(key, lambda: _entry_chunks(head, body_file))
        except (OSError, UnwritableFile) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else exc.message
            raise UnwritableStore(
                f"cannot write a stored response under {self.root}: {reason or type(exc).__name__}",
                hint="check that the directory is writable and holds only verify-release's "
                "files, or choose another directory",
            ) from None

    def touch(self, key: str, body_sha256: str | None = None) -> None:
        """Mark a revalidated (304) entry fresh again: the very entry that was read and served.

        What is on disk now may not be what was read before the request went out (someone who
        can write the directory had the whole round trip): it is rewritten only when its own
        MAC still verifies and its body digest is ``body_sha256``, the one served. Anything
        else is left as it is, never authenticated by us.

        No lock: the new entry is the checked one with a new ``stored_at``, written by one
        rename. Should another run save a newer answer between this read and the rename, the
        older one (which the server has just confirmed by its 304) wins until it is next
        revalidated, within ``MAX_FRESH_SECONDS``: each entry stays whole and this user's.
        """
        try:
            stored = self.read(key)
            if stored is None:
                return
            if self.mac_key is not None and (
                body_sha256 is None or stored.body_sha256 != body_sha256
            ):
                return
            body = stored.body()
            meta = {
                "url": stored.url,
                "status": stored.status,
                "content_type": stored.content_type,
                "etag": stored.etag,
                "max_age": stored.max_age,
                "stored_at": time.time(),
            }
            self._write(key, meta, body=body)
        except (UnreadableEntry, UnwritableStore, OSError):
            return


class _Head:
    """Where an entry file's parts are: its MAC line, its metadata line, its body's start."""

    __slots__ = ("body_start", "mac", "meta")

    def __init__(self, mac: bytes, meta: bytes, body_start: int) -> None:
        self.mac = mac
        self.meta = meta
        self.body_start = body_start


def _parse_head(data: bytes) -> _Head:
    """Split an entry file's first lines; ``UnreadableEntry`` when they are not ours."""
    if not data.startswith(_MAGIC):
        raise UnreadableEntry(f"entry is not a {FORMAT_TAG!r} entry")
    start = len(_MAGIC)
    mac_end = data.find(b"\n", start, start + _MAC_LINE + 1)
    if mac_end < 0:
        raise UnreadableEntry(f"entry is not a {FORMAT_TAG!r} entry")
    meta_end = data.find(b"\n", mac_end + 1, mac_end + 2 + MAX_METADATA_BYTES)
    if meta_end < 0:
        if len(data) - mac_end - 1 > MAX_METADATA_BYTES:
            raise UnreadableEntry(f"metadata larger than {MAX_METADATA_BYTES} bytes")
        raise UnreadableEntry("metadata is not valid JSON")
    return _Head(data[start:mac_end], data[mac_end + 1 : meta_end], meta_end + 1)


def _parse_meta(raw: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise UnreadableEntry("metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise UnreadableEntry("metadata is not a JSON object")
    return meta


def _entry_chunks(head: bytes, body_file: Path) -> Iterator[bytes]:
    """An entry file's bytes: its head, then its body copied from a file."""
    yield head
    with body_file.open("rb") as source:
        yield from iter(lambda: source.read(1024 * 1024), b"")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    with path.open("rb") as handle:
        return _stream_sha256(handle)


def _stream_sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(block)
    return digest.hexdigest()


class EntryFiles:
    """The entry files of one directory, ``ROOT/ab/KEY{suffix}``: each written whole.

    Shared by the response store and the verdict cache, in the run's process or in its
    background writer (``verifier.writer``), which writes what they hand it the same way.
    """

    def __init__(self, root: Path, suffix: str) -> None:
        self.root = root
        self.suffix = suffix
        self.shards = ShardFolders(root)

    def path(self, key: str) -> Path:
        """Where ``key``'s entry is."""
        return self.root / key[:2] / f"{key}{self.suffix}"

    def write(self, key: str, chunks: Callable[[], Iterable[bytes]]) -> None:
        """Write ``key``'s entry from ``chunks()``, whole (one atomic rename).

        Raises ``OSError`` or ``UnwritableFile`` when it cannot be written. A save into a
        folder removed since it was checked (another run cleared the cache), or where a
        damaged entry left a directory, is retried once after checking again.
        """
        path = self.path(key)
        try:
            self.shards.check(key, create=True)
            atomic.write_chunks(path, chunks(), **_PRIVATE)
        except (OSError, UnwritableFile):
            self.shards.forget(key)
            self.shards.check(key, create=True)
            _clear(path)
            atomic.write_chunks(path, chunks(), **_PRIVATE)


class ShardFolders:
    """``shard_folder`` for the entries of one directory: made once, checked once per read.

    A save checks the folder again (one ``lstat``, no ``mkdir``) before each write: a folder
    swapped for a symlink since the last save is refused then, not written through. A read
    needs no such check once the folder was found good: what it reads is authenticated (the
    cache, the verdicts) or re-checked as evidence, and the file itself is never reached
    through a symlink. Shared by the response store and the verdict cache.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._good: set[str] = set()
        """Shard folders already found (or made) to be real folders."""
        self._root_good = False

    def check(self, key: str, *, create: bool) -> None:
        """``shard_folder`` for ``key``'s entry (``OSError`` when it is not a real folder).

        The folder of the shards (``CACHE/http``, ``CACHE/verdicts``) is checked the same way,
        once: a poisoned cache tarball that plants it as a symlink would otherwise have every
        shard, and every entry, made wherever it points. The folder above it is the user's.
        """
        if not self._root_good:
            try:
                shard_folder(self.root, create=create)
            except FileExistsError:  # a file where the store's folder belongs
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
            self._root_good = True
        known = key[:2] in self._good
        if known and not create:
            return
        shard_folder(self.root / key[:2], create=create and not known)
        self._good.add(key[:2])

    def forget(self, key: str) -> None:
        """Check ``key``'s folder in full again next time (it was found missing or replaced)."""
        self._good.discard(key[:2])
        self._root_good = False


def shard_folder(shard: Path, *, create: bool) -> None:
    """Check (and with ``create``, make) an entry's shard folder: a real folder, no symlink.

    The last component of an entry is never followed (``O_NOFOLLOW``); the folder above it
    must not be either, or a symlink planted as ``ROOT/ab`` (a poisoned CI cache tarball) would
    have every entry of that shard written outside the directory. A symlinked shard raises
    ``OSError`` (ELOOP), a file there EEXIST: a miss when reading, not written when saving.
    Shared by the response store and the verdict cache (``verifier.verdicts``).
    """
    if create:
        try:
            shard.mkdir(mode=0o700)
        except FileNotFoundError:
            shard.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                shard.mkdir(mode=0o700)
        except FileExistsError:
            pass
    mode = os.lstat(shard).st_mode
    if stat.S_ISLNK(mode):
        raise OSError(errno.ELOOP, "a shard folder in it is a symlink")
    if not stat.S_ISDIR(mode):
        raise OSError(errno.EEXIST, os.strerror(errno.EEXIST))


def regular_file_sha256(path: Path) -> str | None:
    """The sha256 of ``path`` when it is a regular file itself (never through a symlink).

    None for anything else or anything unreadable: a stored body (the cache, the evidence
    directory) or a file found in ``--download DIR`` is input, trusted only once re-hashed.
    """
    try:
        with _open_regular(path, "body") as handle:
            return _stream_sha256(handle)
    except (UnreadableEntry, OSError):
        return None


def cache_key(path: Path) -> bytes | None:
    """The secret that authenticates this user's cache entries, created on first use.

    Kept outside the cache directory (the user's data directory), readable by the user only.
    None when it cannot be read or created: then nothing is cached, which is only slower.
    """
    existing = _read_key(path)
    if existing is not None:
        return existing
    secret = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = atomic.create_exclusive(path, secret.hex().encode("ascii"), new_mode=0o600)
    except (OSError, UnwritableFile):
        return None
    return secret if created else _read_key(path)  # else another run created it meanwhile


def _read_key(path: Path) -> bytes | None:
    """The key, only if this user alone could have written it; else None (nothing cached).

    A key file another user owns, or that others may read or write, or in a folder others may
    write (a shared ``/tmp`` data directory, a shared runner), could hold a secret someone else
    chose, and with it they could forge cache entries and verdicts.
    """
    try:
        if not _private(path.parent):
            return None
        with _open_regular(path, "cache key") as handle:
            if not _private_file(os.fstat(handle.fileno())):
                return None
            text = handle.read(65)
        return bytes.fromhex(text.decode("ascii")) if len(text) == 64 else None
    except (UnreadableEntry, OSError, ValueError):
        return None


def _private_file(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def _private(folder: Path) -> bool:
    """Whether only this user (or root) can change what ``folder`` holds."""
    info = os.stat(folder)
    return info.st_uid in (os.getuid(), 0) and not info.st_mode & 0o022


@contextlib.contextmanager
def _open_regular(path: Path, what: str) -> Iterator[BinaryIO]:
    """Open ``path`` for reading only if it is a regular file reached without a symlink."""
    with os.fdopen(_open_regular_fd(path, what)[0], "rb") as handle:
        yield handle


def _open_regular_fd(path: Path, what: str) -> tuple[int, os.stat_result]:
    """``_open_regular`` as a bare descriptor (the caller closes it) and its ``fstat``."""
    try:
        # O_NONBLOCK: a FIFO planted in the directory must not block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise _MissingFile(f"{what} file is missing") from None
    except OSError as exc:
        # ELOOP: a symlink (O_NOFOLLOW); EISDIR and friends: not a file.
        raise UnreadableEntry(
            f"{what} file cannot be opened ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        info = os.fstat(fd)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnreadableEntry(f"{what} is not a regular file")
    return fd, info


def _read_up_to(fd: int, limit: int, size: int) -> bytes:
    """At most ``limit`` bytes from ``fd`` (fewer only at the end of the file).

    ``size`` is the file's size when it was opened: reading all of it ends the read without
    asking again for the end of the file (one ``read`` per small entry).
    """
    first = os.read(fd, min(limit, size) if 0 < size < limit else limit)
    if not first or len(first) >= limit or len(first) == size:
        return first
    chunks = [first]
    left = limit - len(first)
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _field(meta: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = meta.get(name, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UnreadableEntry(f"metadata field {name!r} is not a {kind.__name__}")
    return value


def _optional(meta: dict[str, Any], name: str, kind: type) -> Any:
    return None if meta.get(name) is None else _field(meta, name, kind)


def _status(meta: dict[str, Any]) -> int:
    status: int = _field(meta, "status", int)
    if not 100 <= status <= 599:
        raise UnreadableEntry(f"metadata field 'status' is not an HTTP status ({status})")
    return status


def _timestamp(meta: dict[str, Any]) -> float:
    value = meta.get("stored_at")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UnreadableEntry("metadata field 'stored_at' is not a timestamp")
    return float(value)


def _clear(path: Path) -> None:
    """Make room for an entry where a damaged one left an empty directory."""
    if path.is_dir() and not path.is_symlink():
        path.rmdir()


_PRIVATE: dict[str, Any] = {
    "new_mode": 0o600,
    "follow_symlinks": False,
    "durable": False,
    "keep_mode": False,
}
"""Stored entries are this user's alone (0600 whatever the file they replace had), and a symlink
planted in the directory is replaced, never written through. Not fsynced: every read checks the
entry's MAC over its metadata and body digest, so a file a power loss tore is a miss, never a
wrong answer (``atomic.write_chunks``)."""
