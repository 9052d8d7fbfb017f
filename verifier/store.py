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
import dataclasses
import errno
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
import stat
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from verifier import atomic
from verifier.errors import UnwritableFile, UsageError
from verifier.urls import MASK, redact_url

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

    def open_body(self) -> contextlib.AbstractContextManager[BinaryIO]:
        """The stored body as an open file, for streaming large bodies (downloads)."""
        return _open_regular(self.body_path, "body")

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


LOCK_STRIPES = 1024
"""Entries are locked by stripe: byte ``n`` of one ``.locks`` file per store directory, where
``n`` is derived from the key. Two keys sharing a stripe only wait for each other."""

_STRIPE_LOCKS = [threading.Lock() for _ in range(LOCK_STRIPES)]
"""POSIX record locks exclude other processes only, never other threads of this one: each
stripe is also a thread lock, shared by every store of the process."""


@dataclass
class _LockFile:
    fd: int
    users: int = 0


_LOCK_FILES: dict[tuple[int, int], _LockFile] = {}
"""The open ``.locks`` files of this process, by device and inode. A descriptor is closed only
while no thread holds a lock through it: closing any descriptor of a file drops every record
lock the process holds on that file."""
_KEPT_OPEN: list[int] = []
"""Descriptors of a lock file opened twice in a race: kept open, never used, never closed."""
_LOCK_FILES_GUARD = threading.Lock()
_MAX_IDLE_LOCK_FILES = 16
"""Idle lock files kept open (a process that uses many store directories, a test suite)."""


def _after_fork_in_child() -> None:
    """A forked child starts with fresh thread locks (another thread may have held one).

    Record locks are not inherited either: no lock file is in use in the child.
    """
    global _LOCK_FILES_GUARD
    _STRIPE_LOCKS[:] = [threading.Lock() for _ in range(LOCK_STRIPES)]
    _LOCK_FILES_GUARD = threading.Lock()
    for lock in _LOCK_FILES.values():
        lock.users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


class ResponseStore:
    """A directory of responses; writes are atomic so a crash never leaves half an entry."""

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
        self._good_shards: set[str] = set()
        """Shard folders already found to be real folders: each is checked once per store."""

    def _mac(self, key: str, meta: dict[str, Any]) -> str:
        """The entry's MAC over the request it answers (``key``) and its metadata.

        The key is in it so that an entry copied over another request's files (another
        project's page, another host's) is not this request's answer: a move is a miss.
        """
        assert self.mac_key is not None  # noqa: S101 - only called with a key
        text = json.dumps({k: v for k, v in meta.items() if k != "mac"}, sort_keys=True)
        message = f"{FORMAT_TAG}\n{key}\n{text}".encode()
        return hmac.new(self.mac_key, message, hashlib.sha256).hexdigest()

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """Hold ``key``'s entry exclusively against every thread and process writing it.

        One lock file for the whole directory, ``.locks``, where byte ``n`` locks stripe ``n``
        (``fcntl.lockf``): a cold run writes 800 entries, and a sidecar lock file each was a
        file created, opened, locked and closed per entry. The lock file is opened without
        following a symlink, must be a regular file, and is found again by its inode, so a
        directory removed and made again gets a lock file of its own.
        """
        stripe = zlib.crc32(key.encode()) % LOCK_STRIPES
        with _STRIPE_LOCKS[stripe]:
            lock = self._acquire_lock_file()
            try:
                fcntl.lockf(lock.fd, fcntl.LOCK_EX, 1, stripe)
                try:
                    yield
                finally:
                    fcntl.lockf(lock.fd, fcntl.LOCK_UN, 1, stripe)
            finally:
                with _LOCK_FILES_GUARD:
                    lock.users -= 1

    def _acquire_lock_file(self) -> _LockFile:
        path = self.root / ".locks"
        with _LOCK_FILES_GUARD:
            try:
                info = os.stat(path, follow_symlinks=False)
                known = _LOCK_FILES.get((info.st_dev, info.st_ino))
            except FileNotFoundError:
                known = None
            if known is None or not stat.S_ISREG(info.st_mode):
                known = _open_lock_file(path)
            known.users += 1
            return known

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.root / key[:2]
        return base / f"{key}.json", base / f"{key}.body"

    def _shard(self, key: str, *, create: bool) -> None:
        """``shard_folder`` for ``key``'s entry, each folder checked once per store on reads."""
        if not create and key[:2] in self._good_shards:
            return  # a save checks again: it makes the folder anew if another run removed it
        shard_folder(self.root / key[:2], create=create)
        self._good_shards.add(key[:2])

    def load(self, key: str) -> Stored | None:
        """The stored response for ``key``, or None when it is absent or unusable (a miss)."""
        try:
            return self.read(key)
        except UnreadableEntry:
            return None

    def read(self, key: str) -> Stored | None:
        """The stored response for ``key``; None when absent, ``UnreadableEntry`` when unusable.

        Every field is type-checked and the body must be a regular file (not a symlink, not a
        directory), so that nothing read back can surprise the code that uses it.
        """
        meta_path, body_path = self._paths(key)
        try:
            self._shard(key, create=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UnreadableEntry(f"metadata cannot be read ({exc.strerror})") from None
        try:
            fd = _open_regular_fd(meta_path, "metadata")
        except _MissingFile:
            return None
        try:
            raw = _read_up_to(fd, MAX_METADATA_BYTES + 1)
        except OSError as exc:
            raise UnreadableEntry(f"metadata cannot be read ({exc.strerror})") from None
        finally:
            os.close(fd)
        if len(raw) > MAX_METADATA_BYTES:
            raise UnreadableEntry(f"metadata larger than {MAX_METADATA_BYTES} bytes")
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            raise UnreadableEntry("metadata is not valid JSON") from None
        if not isinstance(meta, dict):
            raise UnreadableEntry("metadata is not a JSON object")
        expected = None
        if self.mac_key is not None:
            mac = meta.get("mac")
            if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(key, meta)):
                raise UnreadableEntry("not written by this user's runs (its MAC does not match)")
            expected = meta.get("body_sha256")
            if not isinstance(expected, str):
                raise UnreadableEntry("its body is not the one stored with it")
        stored = Stored(
            url=_field(meta, "url", str),
            status=_status(meta),
            content_type=_field(meta, "content_type", str, default=""),
            etag=_optional(meta, "etag", str),
            max_age=_optional(meta, "max_age", int),
            stored_at=_timestamp(meta),
            body_path=body_path,
            body_sha256=expected,
        )
        # The body is opened once: checked to be a regular file, hashed (the cache) and, when
        # small, kept, so that ``Stored.body`` needs no second open and no second hash.
        try:
            fd = _open_regular_fd(body_path, "body")
            try:
                small = _read_up_to(fd, KEEP_BODY_BYTES + 1)
                if expected is None:
                    return (
                        dataclasses.replace(stored, verified_body=small)
                        if len(small) <= KEEP_BODY_BYTES
                        else stored
                    )
                digest = hashlib.sha256(small)
                for block in iter(lambda: os.read(fd, 1024 * 1024), b""):
                    digest.update(block)
            finally:
                os.close(fd)
        except (UnreadableEntry, OSError) as exc:
            if expected is not None:
                raise UnreadableEntry("its body is not the one stored with it") from None
            if isinstance(exc, UnreadableEntry):
                raise
            reason = exc.strerror or type(exc).__name__
            raise UnreadableEntry(f"body file cannot be read ({reason})") from None
        if digest.hexdigest() != expected:
            raise UnreadableEntry("its body is not the one stored with it")
        return (
            dataclasses.replace(stored, verified_body=small)
            if len(small) <= KEEP_BODY_BYTES
            else stored
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
        meta_path, body_path = self._paths(key)
        meta = {
            "url": redact_url(url),
            "status": status,
            "content_type": content_type,
            "etag": etag,
            "max_age": max_age(cache_control),
            "stored_at": time.time(),
        }
        # Under the entry's lock (``_locked``), body and metadata are one writer's pair: parallel
        # runs sharing a cache (a CI matrix) cannot leave one run's metadata over another run's
        # body, and the digest is of the bytes this writer wrote, not of whatever the file holds
        # by then.
        try:
            self._shard(key, create=True)
            with self._locked(key):
                digest = hashlib.sha256()
                if body_file is not None:
                    _clear(body_path)
                    with body_file.open("rb") as source:
                        chunks = iter(lambda: source.read(1024 * 1024), b"")
                        atomic.write_chunks(body_path, _hashed(chunks, digest), **_PRIVATE)
                else:
                    _clear(body_path)
                    atomic.write_chunks(body_path, _hashed([body or b""], digest), **_PRIVATE)
                if self.mac_key is not None:
                    meta["body_sha256"] = digest.hexdigest()
                    meta["mac"] = self._mac(key, meta)
                _clear(meta_path)
                atomic.write_bytes(meta_path, json.dumps(meta).encode(), **_PRIVATE)
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
        can write the directory had the whole round trip): it is re-signed only when its own
        MAC still verifies and its body digest is ``body_sha256``, the one served. Anything
        else is left as it is (unsigned, so a miss next time), never authenticated by us.
        """
        meta_path, _ = self._paths(key)
        try:
            self._shard(key, create=False)
        except OSError:
            return
        with contextlib.suppress(OSError, UnwritableFile), self._locked(key):
            try:
                with _open_regular(meta_path, "metadata") as handle:
                    meta = json.loads(handle.read(MAX_METADATA_BYTES + 1).decode("utf-8"))
            except (UnreadableEntry, ValueError, RecursionError):
                return
            if not isinstance(meta, dict):
                return
            if self.mac_key is not None:
                mac = meta.get("mac")
                if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(key, meta)):
                    return
                if body_sha256 is None or meta.get("body_sha256") != body_sha256:
                    return
            meta["stored_at"] = time.time()
            if self.mac_key is not None:
                meta["mac"] = self._mac(key, meta)
            atomic.write_bytes(meta_path, json.dumps(meta).encode(), **_PRIVATE)


def _open_lock_file(path: Path) -> _LockFile:
    """Open (creating it) and register a store's lock file; the caller holds the guard."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC | nofollow, 0o600)
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EEXIST, "its lock file is not a regular file")
    identity = (info.st_dev, info.st_ino)
    known = _LOCK_FILES.get(identity)
    if known is not None:
        _KEPT_OPEN.append(fd)  # closing it would drop the locks held through ``known``
        return known
    if len(_LOCK_FILES) >= _MAX_IDLE_LOCK_FILES:
        for idle, lock in list(_LOCK_FILES.items()):
            if lock.users == 0:
                del _LOCK_FILES[idle]
                os.close(lock.fd)
    lock = _LockFile(fd)
    _LOCK_FILES[identity] = lock
    return lock


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


FORMAT_TAG = "verify-release response store 2"
"""Part of every MAC: entries written before the MAC covered their key are misses."""


def regular_file_sha256(path: Path) -> str | None:
    """The sha256 of ``path`` when it is a regular file itself (never through a symlink).

    None for anything else or anything unreadable: a stored body (the cache, the evidence
    directory) or a file found in ``--download DIR`` is input, trusted only once re-hashed.
    """
    try:
        with _open_regular(path, "body") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(block)
            return digest.hexdigest()
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
    with os.fdopen(_open_regular_fd(path, what), "rb") as handle:
        yield handle


def _open_regular_fd(path: Path, what: str) -> int:
    """``_open_regular`` as a bare descriptor (the caller closes it): no file object to build."""
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
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        raise UnreadableEntry(f"{what} is not a regular file")
    return fd


def _read_up_to(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes from ``fd`` (fewer only at the end of the file)."""
    first = os.read(fd, limit)
    if not first or len(first) >= limit:
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


_PRIVATE: dict[str, Any] = {"new_mode": 0o600, "follow_symlinks": False, "durable": False}
"""Stored entries are this user's alone, and a symlink planted in the directory is replaced,
never written through. Not fsynced: every read checks the entry's MAC and body digest, so a
file a power loss tore is a miss, never a wrong answer (``atomic.write_chunks``)."""


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """``chunks`` unchanged, each added to ``digest`` as it is written."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
