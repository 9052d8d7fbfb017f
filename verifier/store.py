"""Stored HTTP responses: the on-disk cache and the air-gapped evidence directory.

Both are a directory of responses keyed by (URL, Accept). The cache saves bandwidth (index
pages revalidated with ETag and Cache-Control, provenance kept forever because it is
immutable); the evidence directory (``verify-release fetch``) records every response a
verification needs so that ``--evidence DIR`` can replay them with no network at all, through
the very same code path, and therefore reach the same verdicts.

Stored bodies are never trusted more than fresh ones: everything read back is verified again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


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

    def fresh(self, now: float | None = None) -> bool:
        """Within its Cache-Control max-age."""
        if self.max_age is None:
            return False
        return (now if now is not None else time.time()) - self.stored_at < self.max_age

    def body(self) -> bytes:
        """The stored body."""
        return self.body_path.read_bytes()


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

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.root / key[:2]
        return base / f"{key}.json", base / f"{key}.body"

    def load(self, key: str) -> Stored | None:
        """The stored response for ``key``, or None."""
        meta_path, body_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            return Stored(
                url=str(meta["url"]),
                status=int(meta["status"]),
                content_type=str(meta.get("content_type") or ""),
                etag=meta.get("etag"),
                max_age=meta.get("max_age"),
                stored_at=float(meta["stored_at"]),
                body_path=body_path,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

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
        """Store a response (``body`` in memory, or a file to copy in)."""
        meta_path, body_path = self._paths(key)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        if body_file is not None:
            _atomic_copy(body_file, body_path)
        else:
            _atomic_write(body_path, body or b"")
        meta = {
            "url": url,
            "status": status,
            "content_type": content_type,
            "etag": etag,
            "max_age": max_age(cache_control),
            "stored_at": time.time(),
        }
        _atomic_write(meta_path, json.dumps(meta).encode())

    def touch(self, key: str) -> None:
        """Mark a revalidated (304) entry fresh again."""
        meta_path, _ = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError):
            return
        meta["stored_at"] = time.time()
        _atomic_write(meta_path, json.dumps(meta).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(source: Path, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle, source.open("rb") as src:
            for block in iter(lambda: src.read(1024 * 1024), b""):
                handle.write(block)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
