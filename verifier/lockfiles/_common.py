"""Helpers shared by the lockfile parsers: reading, TOML, type checks, names, hashes, lines.

Every check raises ``LockfileError`` with a message that starts with ``path:line`` (when the
line is known) and the TOML key path (``package[3].wheels[0].hash``), so a user can go straight
to the offending text.
"""

from __future__ import annotations

import re
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from verifier.dists import is_plain_filename
from verifier.lockfiles import TOO_DEEP_HINT, LockfileError
from verifier.urls import redact_url

MAX_LOCKFILE_BYTES = 64 * 1024 * 1024
"""Real lockfiles are at most a few MB; the cap keeps ``-r /dev/zero``-like mistakes finite."""
HASH_LENGTHS: Mapping[str, int] = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha3_224": 56,
    "sha3_256": 64,
    "sha3_384": 96,
    "sha3_512": 128,
    "blake2b": 128,
    "blake2s": 64,
}
"""Hex digest length of the algorithms ``hashlib`` names; a digest of another length is a typo
or a forgery, refused at parse time."""
MAX_DIGEST_HEX = 256
"""The longest digest accepted for an algorithm not in ``HASH_LENGTHS`` (1024 bits)."""
_HEX = re.compile(r"[0-9a-f]*")
_ALGORITHM = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def read_text(path: Path, *, what: str = "lockfile") -> str:
    """The UTF-8 text of a lockfile (a leading BOM is dropped).

    Directories and devices are refused up front: reading ``/dev/stdin`` or ``/dev/zero`` would
    block or never end. Regular files and pipes (``<(uv export ...)``) are read, up to a cap.
    """
    try:
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise LockfileError(f"{path}: the {what} is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_LOCKFILE_BYTES + 1)
    except FileNotFoundError:
        raise LockfileError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_LOCKFILE_BYTES:
        raise LockfileError(f"{path}: the {what} is larger than {MAX_LOCKFILE_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LockfileError(f"{path}:{line}: the {what} is not UTF-8 text") from None


def load_toml(text: str, path: Path) -> dict[str, Any]:
    """Parse TOML; a syntax error names ``path:line`` as the TOML parser reports it.

    The parser is imported here: a run over a requirements file never needs it.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.14's tomllib and tomli >= 2.1 carry ``lineno``; older ones only put
        # "(at line N, column M)" in the message, which is the same number.
        message = str(exc.args[0]) if exc.args else str(exc)
        found = _TOML_LINE.search(message)
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        message = _TOML_END.sub("", _TOML_LINE.sub("", message)).strip()
        where = f"{path}:{line}" if line else str(path)
        raise LockfileError(f"{where}: not valid TOML: {message}") from None
    except (RecursionError, MemoryError):
        # tomllib parses nested arrays and inline tables recursively: ``a = [[[...]]]`` a
        # hundred thousand deep would otherwise end in a traceback.
        reason = "nested too deeply"  # a REASON of the documented "not valid TOML" message
        raise LockfileError(f"{path}: not valid TOML: {reason}", hint=TOO_DEEP_HINT) from None


@dataclass(frozen=True)
class Where:
    """A place in a lockfile: the file, the line when known, and the TOML key path."""

    path: Path
    line: int | None = None
    key: str = ""

    def __str__(self) -> str:
        place = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{place}: {self.key}" if self.key else place

    def at(self, key: str | int) -> Where:
        """The place of a table key (``str``) or an array index (``int``) below this one."""
        if isinstance(key, int):
            return Where(self.path, self.line, f"{self.key}[{key}]")
        return Where(self.path, self.line, f"{self.key}.{key}" if self.key else key)

    def on_line(self, line: int | None) -> Where:
        """The same key path, now known to be on ``line``."""
        return Where(self.path, line or self.line, self.key)

    def error(self, message: str, *, hint: str | None = None) -> LockfileError:
        """A ``LockfileError`` about this place."""
        return LockfileError(f"{self}: {message}", hint=hint)


def _type_name(value: object) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", float: "a float"}
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return names.get(type(value), type(value).__name__)


def get_str(table: Mapping[str, Any], key: str, where: Where) -> str | None:
    """An optional string value."""
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise where.at(key).error(f"expected a string, found {_type_name(value)}")
    return value


def require_str(table: Mapping[str, Any], key: str, where: Where) -> str:
    """A required string value."""
    value = get_str(table, key, where)
    if value is None:
        raise where.at(key).error("missing")
    return value


def get_table(table: Mapping[str, Any], key: str, where: Where) -> Mapping[str, Any] | None:
    """An optional table (inline or not)."""
    value = table.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise where.at(key).error(f"expected a table, found {_type_name(value)}")
    return value


def get_tables(table: Mapping[str, Any], key: str, where: Where) -> Sequence[Mapping[str, Any]]:
    """An optional array of tables (``[]`` when absent)."""
    value = table.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.at(key).error(f"expected an array, found {_type_name(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise where.at(key).at(index).error(f"expected a table, found {_type_name(item)}")
    return value


def project_name(name: str, where: Where) -> NormalizedName:
    """A valid project name, normalized (``Foo_Bar`` -> ``foo-bar``); packaging validates it."""
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise where.error(f"{name!r} is not a valid project name") from None


def normal_version(version: str, where: Where) -> str:
    """A PEP 440 version in normal form (``1.0.0-RC1`` -> ``1.0.0rc1``)."""
    try:
        return str(Version(version))
    except InvalidVersion:
        raise where.error(f"{version!r} is not a valid version") from None


def sha256_hex(digest: str, where: Where) -> str:
    """Check a sha256 hex digest: 64 lower-case hex digits, as every tool here writes them."""
    return hash_digest("sha256", digest, where)[1]


def hash_digest(algorithm: str, digest: str, where: Where) -> tuple[str, str]:
    """``(algorithm in lower case, digest)`` after checking the digest fits the algorithm.

    Known algorithms (``HASH_LENGTHS``) need exactly their length of lower-case hex digits
    (what ``hashlib``'s ``hexdigest`` gives, so what an installer compares with); an unknown
    algorithm is kept, with any whole number of bytes in lower-case hex, so that the pipeline
    can say it cannot compare it rather than the pin silently disappearing.
    """
    name = algorithm.lower()
    if not _ALGORITHM.fullmatch(name):
        raise where.error(f"{short(algorithm)} is not a hash algorithm name")
    length = HASH_LENGTHS.get(name)
    if length is not None:
        if len(digest) != length or not _HEX.fullmatch(digest):
            raise where.error(
                f"expected {length} lower-case hex digits for {name}, found {short(digest)}"
            )
    elif (
        not digest or len(digest) % 2 or len(digest) > MAX_DIGEST_HEX or not _HEX.fullmatch(digest)
    ):
        raise where.error(
            f"expected an even number of lower-case hex digits for {name}, found {short(digest)}"
        )
    return name, digest


def split_hash(value: str, where: Where) -> tuple[str, str]:
    """``(algorithm, digest)`` of an ``algorithm:hex`` hash, checked by ``hash_digest``."""
    algorithm, sep, digest = value.partition(":")
    if not sep or not algorithm:
        raise where.error(f"expected 'algorithm:hex digest', found {short(value)}")
    return hash_digest(algorithm, digest, where)


def hash_table(table: Mapping[str, str], where: Where) -> dict[str, str]:
    """Every digest of a PEP 751 ``hashes`` table, keyed by lower-case algorithm name.

    ``SHA256`` and ``sha256`` are the same algorithm: a table that gives both is refused
    rather than one of them winning.
    """
    hashes: dict[str, str] = {}
    for key, digest in table.items():
        at = where.at(key)
        if not isinstance(digest, str):
            raise at.error(f"expected a string, found {_type_name(digest)}")
        name, checked = hash_digest(key, digest, at)
        if name in hashes:
            raise at.error(f"{name} is given twice")
        hashes[name] = checked
    return hashes


def short(text: str, limit: int = 150) -> str:
    """``repr`` of ``text`` for a message, cut short: a hostile value can be megabytes."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def file_name(location: str, where: Where) -> str:
    """The last segment of a URL (percent-decoded) or path: a distribution's file name.

    File names are used as path components later on, so anything but a plain name is refused.
    """
    try:
        parts = urlsplit(location)
    except ValueError:
        raise where.error(f"{redact(location)!r} is not a valid URL") from None
    raw = parts.path if parts.scheme or parts.netloc else location
    segment = re.split(r"[/\\]", raw)[-1]
    name = unquote(segment) if parts.scheme or parts.netloc else segment
    if not _plain(name):
        raise where.error(f"{redact(location)!r} does not end in a plain file name")
    return name


def plain_file_name(name: str, where: Where) -> str:
    """A file name given as such (not a path): refused unless it is a plain name."""
    if not _plain(name):
        raise where.error(f"{name!r} is not a plain file name")
    return name


def _plain(name: str) -> bool:
    return is_plain_filename(name)


def redact(url: str) -> str:
    """A URL fit for a message; the one redactor (``verifier.urls.redact_url``) decides how."""
    return redact_url(url)


# -- line numbers for TOML -----------------------------------------------------------------------
#
# TOML parsers return plain dicts without positions. The lockfile tools write each package as
# an array-of-tables section (``[[package]]`` / ``[[packages]]``) whose first key is ``name``,
# so the raw text is scanned for those headers in order; the n-th header belongs to the n-th
# array element. The ``name = "..."`` line inside the section confirms the match, and that line
# is the one reported. When the text is laid out differently (inline arrays, quoted headers) the
# package is found by its name instead, or has no line: a location is a convenience, never a
# guess.


@dataclass(frozen=True)
class Section:
    """One ``[[table]]`` section of the raw text."""

    header_line: int
    name: str | None
    name_line: int | None


_NAME_LINE = re.compile(r"""^\s*name\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(?:#.*)?$""")


def sections(text: str, table: str) -> list[Section]:
    """Every ``[[table]]`` section in ``text`` with its ``name = "..."`` line, in order."""
    header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]\s*(?:#.*)?$")
    found: list[Section] = []
    current: tuple[int, str | None, int | None] | None = None
    # TOML counts lines by "\n" alone (str.splitlines would also split at U+2028 and friends).
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if header.match(line):
            if current is not None:
                found.append(Section(*current))
            current = (number, None, None)
        elif current is not None and line.lstrip().startswith("["):
            found.append(Section(*current))
            current = None
        elif current is not None and current[1] is None:
            match = _NAME_LINE.match(line)
            if match:
                current = (current[0], match.group(1) or match.group(2) or "", number)
    if current is not None:
        found.append(Section(*current))
    return found


def section_line(found: Sequence[Section], index: int, count: int, name: Any = None) -> int | None:
    """The line of the ``index``-th of ``count`` array elements (named ``name`` if known)."""
    if len(found) == count and index < count:
        section = found[index]
        if name is None or section.name is None:
            return section.header_line
        if section.name == name:
            return section.name_line
    if isinstance(name, str):
        for section in found:
            if section.name == name:
                return section.name_line
    return None
