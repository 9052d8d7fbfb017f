"""Lockfile parsers: uv.lock, pylock.toml (PEP 751), requirements files, poetry.lock.

Every format becomes the same model, a ``Lockfile`` of ``PinnedPackage``s, so the chain never
knows which tool wrote the file. Parsers use ``packaging`` and ``tomllib`` only; every error is
a ``LockfileError`` that names the file and the line (or TOML key path) it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName

from verifier.errors import UsageError


class LockfileError(UsageError):
    """A lockfile that cannot be parsed; the message names ``path:line`` or the key path."""


@dataclass(frozen=True)
class Location:
    """Where in a lockfile a package is pinned (for messages and SARIF)."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class PinnedFile:
    """One distribution file a lockfile pins (name and URL when the format records them)."""

    sha256: str
    filename: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class PinnedPackage:
    """One package as a lockfile pins it.

    ``source`` is ``index`` for packages from a package index; anything else (``path``, ``git``,
    ``url``, ``editable``, ``directory``) cannot be checked against an index and is reported as
    SKIPPED with ``skip_reason``.
    """

    name: NormalizedName
    version: str
    files: tuple[PinnedFile, ...]
    location: Location
    source: str = "index"
    index_url: str | None = None
    skip_reason: str | None = None
    attestation_identities: tuple[dict[str, str], ...] = ()
    """PEP 751 ``attestation-identities``: the expected publishers, when the lockfile has them."""

    @property
    def hashes(self) -> tuple[str, ...]:
        """Every pinned sha256 (lower-case hex)."""
        return tuple(f.sha256 for f in self.files)


@dataclass(frozen=True)
class Lockfile:
    """A parsed lockfile."""

    path: Path
    format: str
    """``uv.lock``, ``pylock.toml``, ``requirements`` or ``poetry.lock``."""
    packages: tuple[PinnedPackage, ...] = field(default_factory=tuple)
