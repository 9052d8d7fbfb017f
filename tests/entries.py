"""Read and edit the response store's entry files the way an attacker or a disk would.

An entry is one file (``verifier.store``): the format line, the MAC line, one line of JSON
metadata, then the body. Tests damage the parts they mean to, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifier.store import response_key


@dataclass(frozen=True)
class Entry:
    """An entry file's parts, as bytes."""

    tag: bytes
    mac: bytes
    meta: bytes
    body: bytes

    def metadata(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.meta)
        return value


def entry_path(root: Path, key: str) -> Path:
    """Where ``key``'s entry lives under a store's ``root``."""
    return root / key[:2] / f"{key}.entry"


def url_entry(root: Path, url: str, accept: str | None = None) -> Path:
    """The entry file of the response to ``url`` (with ``accept``)."""
    return entry_path(root, response_key(url, accept))


def read(path: Path) -> Entry:
    tag, mac, meta, body = path.read_bytes().split(b"\n", 3)
    return Entry(tag, mac, meta, body)


def write(
    path: Path,
    entry: Entry,
    *,
    mac: bytes | None = None,
    meta: bytes | None = None,
    body: bytes | None = None,
) -> None:
    """Write ``entry`` back in place with the given parts replaced (the MAC left as it was)."""
    parts = (
        entry.tag,
        entry.mac if mac is None else mac,
        entry.meta if meta is None else meta,
        entry.body if body is None else body,
    )
    path.write_bytes(b"\n".join(parts))


def edit(path: Path, *, meta: Any = None, body: bytes | None = None) -> None:
    """Replace the metadata (a JSON value, written as one line) and/or the body, in place."""
    entry = read(path)
    write(path, entry, meta=None if meta is None else json.dumps(meta).encode(), body=body)
