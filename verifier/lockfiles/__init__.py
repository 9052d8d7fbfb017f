"""Lockfile parsers: uv.lock, pylock.toml (PEP 751), requirements files, poetry.lock.

Every format becomes the same model, a ``Lockfile`` of ``PinnedPackage``s, so the chain never
knows which tool wrote the file. Parsers use ``packaging`` and ``tomllib`` only; every error is
a ``LockfileError`` that names the file and the line (or TOML key path) it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    """One distribution file a lockfile allows (name and URL when the format records them).

    ``hashes`` holds EVERY digest the lockfile gives for the file (algorithm in lower case ->
    lower-case hex), not only sha256: an installer accepts a file matching any of them, so a
    verifier that looked at sha256 alone would pass a lockfile whose md5 or sha512 pin lets the
    installer fetch another file. ``sha256`` mirrors ``hashes["sha256"]`` (``None`` when the
    file has none) for callers that compare with an index's sha256 digests; either may be
    given, and ``__post_init__`` keeps the two in sync. A file may have no hash at all (uv.lock
    allows that): it is still a file the installer may fetch, so it is kept.
    """

    sha256: str | None = None
    filename: str | None = None
    url: str | None = None
    """The URL the lockfile records for this file (raw: may hold ``user:password@``; pass it
    through ``redact()`` before it goes into any message)."""
    hashes: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        hashes = dict(self.hashes)
        if self.sha256 is not None and hashes.setdefault("sha256", self.sha256) != self.sha256:
            raise ValueError("PinnedFile: sha256 and hashes['sha256'] disagree")
        object.__setattr__(self, "hashes", hashes)
        object.__setattr__(self, "sha256", hashes.get("sha256"))


@dataclass(frozen=True)
class PinnedPackage:
    """One package as a lockfile pins it.

    ``source`` is ``index`` for packages from a package index; anything else (``path``, ``git``,
    ``url``, ``editable``, ``directory``, another VCS) cannot be checked against an index and is
    reported as SKIPPED with ``skip_reason``. Every parser sets ``skip_reason`` whenever
    ``source`` is not ``index``, and refuses a package it cannot classify.

    Where the lockfile says the package comes from is recorded, raw (URLs may hold
    credentials: ``redact()`` them before they reach a message), so that the pipeline can
    refuse what it cannot check: ``index_url`` (requirements ``--index-url``, uv.lock
    ``registry``, pylock ``index``, poetry ``legacy`` source), ``extra_index_urls`` and
    ``find_links`` (requirements ``--extra-index-url`` and ``--find-links``, in file order) and
    ``no_index`` (requirements ``--no-index``). In a requirements file these options apply to
    the whole file, includes too, as in pip; they are set on every index package.
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
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    @property
    def hashes(self) -> tuple[str, ...]:
        """Every pinned sha256 (lower-case hex).

        Files pinned by other algorithms only are not in it: ``files`` has every digest.
        """
        return tuple(f.sha256 for f in self.files if f.sha256 is not None)


@dataclass(frozen=True)
class Lockfile:
    """A parsed lockfile."""

    path: Path
    format: str
    """``uv.lock``, ``pylock.toml``, ``requirements`` or ``poetry.lock``."""
    packages: tuple[PinnedPackage, ...] = field(default_factory=tuple)


TOO_DEEP_HINT = "lockfiles written by uv, poetry or pip never nest this deep; regenerate the file"
"""The hint of every "nested too deeply" error."""

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
    ``path:line`` or the TOML key path. Every file is returned with every hash the lockfile
    gives it, whatever the algorithm: judging a file pinned by md5 or sha512 only is the
    pipeline's business, and it must see it to refuse it.
    """
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
    parse = _parser(kind)
    text = read_text(path)
    try:
        return parse(text, path=path)
    except (RecursionError, MemoryError):
        # The parsers catch these where they know the cause (``load_toml``); this is the last
        # line, so that no input ever ends in a traceback.
        reason = "it is nested too deeply"  # a REASON of the documented "cannot read" message
        raise LockfileError(
            f"{path}: cannot read the lockfile: {reason}", hint=TOO_DEEP_HINT
        ) from None


def _parser(kind: str) -> Callable[..., Lockfile]:
    """The parser for one of ``FORMATS``, importing its module only (TOML only if it needs it)."""
    if kind == "requirements":
        from verifier.lockfiles.requirements import parse_requirements

        return parse_requirements
    if kind == "uv.lock":
        from verifier.lockfiles.uv import parse_uv_lock

        return parse_uv_lock
    if kind == "pylock.toml":
        from verifier.lockfiles.pylock import parse_pylock

        return parse_pylock
    from verifier.lockfiles.poetry import parse_poetry_lock

    return parse_poetry_lock
