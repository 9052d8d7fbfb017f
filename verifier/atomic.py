"""Every file verify-release writes is written whole or not at all.

The tool writes into files people keep and depend on: the policy file ``pin`` manages, reports,
SARIF, the step summary, the cache and the evidence directory. Writing in place means a failure
part-way (a full disk, a file-size limit, an interrupt) leaves the file cut short, and a
hand-written policy file is lost. So every write goes to a new temporary file in the target's own
folder (same file system, so the rename is atomic), is flushed and fsynced, and only then renamed
over the target. On any failure the temporary file is removed, the target is exactly as it was,
and the error says so: ``UnwritableFile`` (exit 3) when the path or the disk is the problem,
``FileNotWritten`` (exit 4) for anything else.

Files that are read, changed and written back (``pin``'s policy file, the step summary, a cache
entry's metadata) are changed under ``locked``: an exclusive ``flock`` on a sidecar lock file, so
two runs (a CI matrix sharing a cache, two ``pin`` runs) take turns instead of one silently
undoing the other. The lock is on a sidecar because the target's own inode is replaced by every
write; it is named ``.NAME.lock`` beside the file (``.verify-release.toml.lock``) so one
``.gitignore`` line (``.*.lock``) covers it.

The temporary file is private (0600) while it is written and gets its final mode just before
the rename. A SIGTERM (a cancelled CI job, a timeout) is turned into ``Terminated`` by
``terminate_as_exception`` (the CLI installs it), so the temporary file is removed as on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

from verifier.errors import FileNotWritten, UnwritableFile, one_line

_ATTEMPTS = 8
"""Temporary names are random; a clash (another writer's temp file) is retried, not reused."""

UNWRITABLE_HINT = (
    "check that the folder exists and is writable and that the disk has room (and no file-size "
    "limit stops the write), then run again"
)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like ``KeyboardInterrupt`` so every cleanup runs on the way out.

    A ``BaseException`` so that no ``except Exception`` on the way turns it into a result.
    """


def terminate_as_exception() -> None:
    """Make SIGTERM raise ``Terminated`` (main thread only; a no-op where that is impossible).

    Python's default for SIGTERM is to die on the spot, which leaves a temporary file beside
    the user's file for good; raising instead lets ``write_chunks`` remove it.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    with contextlib.suppress(ValueError):  # not the main thread: leave the default alone
        signal.signal(signal.SIGTERM, handler)


def write_bytes(
    path: Path,
    data: bytes,
    *,
    new_mode: int = 0o666,
    follow_symlinks: bool = True,
    durable: bool = True,
) -> None:
    """Replace ``path`` with ``data`` whole, or raise and leave it untouched."""
    write_chunks(path, (data,), new_mode=new_mode, follow_symlinks=follow_symlinks, durable=durable)


def write_text(path: Path, text: str, *, follow_symlinks: bool = True) -> None:
    """Replace ``path`` with ``text`` as UTF-8, written as given (no newline translation)."""
    write_bytes(path, _encode(path, text), follow_symlinks=follow_symlinks)


def append_text(path: Path, text: str) -> None:
    """Add ``text`` at the end of ``path`` (created if absent), atomically and under its lock.

    For files several writers share, such as GitHub's step summary: what was there is kept
    byte for byte, and either all of ``text`` follows it or none does.
    """
    target = _target(path, follow_symlinks=True)
    with locked(target):
        try:
            before = target.read_bytes() if target.exists() else b""
        except OSError as exc:
            raise _unwritable(target, exc) from None
        # Bytes, not text: what was there is kept even where it is not UTF-8.
        write_bytes(target, before + _encode(path, text))


def write_chunks(
    path: Path,
    chunks: Iterable[bytes],
    *,
    new_mode: int = 0o666,
    follow_symlinks: bool = True,
    durable: bool = True,
    keep_mode: bool = True,
) -> None:
    """Stream ``chunks`` into a temporary file beside ``path``, then rename it over ``path``.

    An existing target keeps its permission bits; a new one gets ``new_mode`` less the umask.
    Until the rename the temporary file is 0600: nobody reads the new content through a
    wider mode, not even for the moment before a ``chmod``.
    ``follow_symlinks=False`` is for directories the tool owns but others may have tampered with
    (cache, evidence): a symlink there is replaced, never written through.

    ``durable=False`` skips the ``fsync`` of the file and its folder. The rename is still atomic
    for every reader (whole or not at all while the machine runs); only a power loss could leave
    an empty or torn file. That is for files whose every read is authenticated (cache entries:
    a MAC and a body digest), where a torn file is a miss, never a wrong answer, and where two
    fsyncs per entry were most of a cold run's time. A user's own file is always durable.

    ``keep_mode=False`` gives the file ``new_mode`` less the umask even where a file exists,
    without a ``stat`` of the target (and no ``fchmod`` when the temporary file has that mode
    already): for the response store, whose entries are always private and are written by the
    hundred, where each saved system call counts.
    """
    target = _target(path, follow_symlinks=follow_symlinks)
    try:
        fd, tmp, mode = _create_temp(target, new_mode, keep_mode=keep_mode)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    try:
        try:
            for chunk in chunks:
                _write_all(fd, chunk)
            if durable:
                os.fsync(fd)
            if keep_mode or mode != _TEMP_MODE & ~_umask():
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise _unwritable(target, exc) from None
    except Exception as exc:
        _discard(tmp)
        if isinstance(exc, FileNotWritten):
            raise
        raise FileNotWritten(
            f"{target} was not changed: writing it failed ({one_line(exc)})",
            path=target,
            hint="this is a bug in verify-release; please report it",
        ) from exc
    except BaseException:
        _discard(tmp)  # Ctrl-C: the target is intact, the interrupt goes on
        raise
    if durable:
        _sync_folder(target.parent)


def create_exclusive(path: Path, data: bytes, *, new_mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` whole, unless it exists; False when it already did.

    For a file the first writer wins (the cache key): the bytes are written and synced under a
    temporary name, then hard-linked to ``path``, which fails if another run got there first.
    A crash never leaves a short file at ``path``.
    """
    target = _target(path, follow_symlinks=False)
    try:
        fd, tmp, mode = _create_temp(target, new_mode)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.link(tmp, target)
    except FileExistsError:
        return False
    except OSError as exc:
        raise _unwritable(target, exc) from None
    finally:
        _discard(tmp)
    _sync_folder(target.parent)
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for read-modify-writing ``path`` (a ``.NAME.lock`` sidecar).

    The sidecar stays in place: removing it would let a waiting writer lock a file that a third
    writer no longer sees.
    """
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        # The lock file is the one that could not be opened (a symlink planted there: ELOOP).
        raise _unwritable(lock, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _encode(path: Path, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FileNotWritten(
            f"{path} was not changed: the text to write is not valid Unicode ({one_line(exc)})",
            path=path,
            hint="this is a bug in verify-release; please report it",
        ) from None


def _target(path: Path, *, follow_symlinks: bool) -> Path:
    return Path(os.path.realpath(path)) if follow_symlinks else path


_UMASK: list[int] = []
"""The umask once read: this tool never changes it after import, so one read per process."""


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, for every thread)."""
    if _UMASK:
        return _UMASK[0]
    value = _IMPORT_UMASK
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                value = int(line.split()[1], 8)
                break
    _UMASK.append(value)
    return value


def _read_umask_once() -> int:
    old = os.umask(0o077)
    os.umask(old)
    return old


_IMPORT_UMASK = _read_umask_once()
"""Where /proc is missing: the umask at import (set and restored before any writer thread)."""


_TEMP_MODE = 0o600
"""The mode a temporary file is created with (less the umask)."""


def _create_temp(target: Path, new_mode: int, *, keep_mode: bool = True) -> tuple[int, Path, int]:
    """An exclusive new 0600 file beside ``target``, and the mode to give it before the rename.

    That mode is the existing target's (``keep_mode``), or ``new_mode`` less the umask.
    """
    info = None
    if keep_mode:
        with contextlib.suppress(FileNotFoundError):
            info = os.stat(target, follow_symlinks=False)
    regular = info is not None and stat.S_ISREG(info.st_mode)
    final = stat.S_IMODE(info.st_mode) if info is not None and regular else new_mode & ~_umask()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for attempt in range(_ATTEMPTS):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, _TEMP_MODE), tmp, final
        except FileExistsError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is out (a short write is not an error by itself)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: some file systems refuse a folder fsync)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unwritable(path: Path, exc: OSError) -> UnwritableFile:
    reason = exc.strerror or type(exc).__name__
    return UnwritableFile(
        f"cannot write {path} ({reason}); the file was not changed", path=path, hint=UNWRITABLE_HINT
    )
