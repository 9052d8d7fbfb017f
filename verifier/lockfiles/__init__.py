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


FORMATS = ("uv.lock", "pylock.toml", "requirements", "poetry.lock")
_ALIASES = {
    "uv": "uv.lock",
    "pylock": "pylock.toml",
    "pep751": "pylock.toml",
    "requirements.txt": "requirements",
    "pip": "requirements",
    "poetry": "poetry.lock",
}


def detect_format(path: Path) -> str:
    """The format a lockfile's name implies, as the tools name their files.

    ``uv.lock``, ``pylock.toml`` and ``pylock.NAME.toml`` (PEP 751), ``poetry.lock``; any
    ``*.txt`` or ``requirements*`` file is a requirements file. Anything else must be named.
    """
    name = path.name
    if name == "uv.lock":
        return "uv.lock"
    if name == "poetry.lock":
        return "poetry.lock"
    if name == "pylock.toml" or (
        name.startswith("pylock.") and name.endswith(".toml") and name.count(".") == 2
    ):
        return "pylock.toml"
    if name.endswith(".txt") or name.startswith("requirements"):
        return "requirements"
    raise LockfileError(
        f"{path}: cannot tell the lockfile format from the file name",
        hint=f"name the format explicitly: one of {', '.join(FORMATS)}",
    )


def parse_lockfile(path: Path, format: str | None = None) -> Lockfile:
    """Read and parse a lockfile; ``format`` is one of ``FORMATS`` (detected when ``None``).

    Raises ``LockfileError`` for a file that cannot be read or parsed; the message names
    ``path:line`` or the TOML key path. A package pinned with no sha256 (only other hash
    algorithms, or none) is still returned, with no files: the chain reports it unverifiable,
    which says more than refusing the whole lockfile would.
    """
    from verifier.lockfiles import poetry, pylock, requirements, uv
    from verifier.lockfiles._common import read_text

    path = Path(path)
    if format is None:
        kind = detect_format(path)
    else:
        kind = _ALIASES.get(format.lower(), format.lower())
        if kind not in FORMATS:
            raise LockfileError(
                f"unknown lockfile format {format!r}",
                hint=f"use one of {', '.join(FORMATS)}",
            )
    parsers = {
        "uv.lock": uv.parse_uv_lock,
        "pylock.toml": pylock.parse_pylock,
        "requirements": requirements.parse_requirements,
        "poetry.lock": poetry.parse_poetry_lock,
    }
    return parsers[kind](read_text(path), path=path)
