"""Distribution file names, versions as pip reads them, and sha256 digests.

One module decides what a file name means, so the index client, the lockfile parsers and the
checks cannot drift apart. Index pages are read the way pip reads them, because a file the tool
never looked at but pip installs is exactly the gap an attacker aims for:

- pip takes the version of a wheel from its name, and that of an sdist from what follows the
  project's name (the *first* dash after it), not from the last dash;
- ``NAME==1.0.0`` matches ``1.0.0+anything`` (PEP 440: a pin without a local label matches every
  local label) and pip prefers the local version, being the greater one;
- pip also installs ``.tar.bz2``/``.tgz``/``.tar.xz``/``.tar`` sdists, which this tool does not
  check; those must be reported, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from verifier.errors import UpstreamError

_SHA256 = re.compile(r"[0-9a-f]{64}")
SDIST_FORMATS = (".tar.gz", ".zip")
"""The sdist formats this tool verifies (the ones PyPI accepts and packaging parses)."""
PIP_ONLY_SDIST_FORMATS = (
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
    ".tgz",
    ".tar",
)
"""Archives pip also installs as sdists (pip's ``SUPPORTED_EXTENSIONS``), unchecked here."""
LEGACY_FORMATS = (".egg", ".exe", ".msi", ".rpm", ".dmg", ".deb")
"""Old upload formats (bdist_egg, bdist_wininst, bdist_msi, ...) that pip never installs."""


# -- sha256 and plain names -----------------------------------------------------------------------


def is_sha256(text: object) -> bool:
    """Whether ``text`` is a sha256 hex digest: exactly 64 lower-case hex digits.

    ``fullmatch``, not ``match(r"^...$")``: ``$`` also matches before a trailing newline.
    """
    return isinstance(text, str) and _SHA256.fullmatch(text) is not None


def check_sha256(value: object, *, where: str) -> str:
    """``value`` if it is a sha256 hex digest; else an ``UpstreamError`` naming ``where``."""
    if isinstance(value, str) and is_sha256(value):
        return value
    raise UpstreamError(
        f"{where} is not a sha256 hex digest",
        hint="a sha256 is 64 lower-case hex digits; the index must publish one",
    )


def is_plain_filename(name: str) -> bool:
    """Whether ``name`` is safe as one path component and as one line of a report.

    File names come from index pages and lockfiles and end up as cache paths and in messages:
    no separators, no drive colon, no leading dot (``.``, ``..``, hidden files), no NUL or
    terminal control characters, at most 255 characters.
    """
    return not (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\\x00:")
        or len(name) > 255
        or not name.isprintable()
    )


def check_filename(filename: str, *, where: str) -> str:
    """A distribution filename is used as a path component: refuse anything but a plain name."""
    if not is_plain_filename(filename):
        raise UpstreamError(f"index response: unsafe file name {filename!r} in {where}")
    return filename


# -- wheel and sdist names as packaging parses them -----------------------------------------------


def dist_version(filename: str) -> tuple[NormalizedName, Version] | None:
    """Project name and version of a wheel or sdist filename, or None for other formats.

    Used for local files and lockfile entries; index pages go through ``read_index_filename``,
    which reads sdist names the way pip does.
    """
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        if filename.endswith(SDIST_FORMATS):
            name, version = parse_sdist_filename(filename)
            stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
            canonicalize_name(stem.rpartition("-")[0], validate=True)
            return name, version
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, InvalidName):
        return None
    return None


def same_distribution(a: str, b: str) -> bool:
    """Whether two file names denote the same distribution file.

    Names are compared as packaging parses them (normalised project name, version, build tag
    and wheel tags, sdist format), so ``MarkupSafe-3.0.2-....whl`` and the lower-cased spelling
    some lockfiles write are the same file, while another version or platform is not.
    """
    if a.endswith(".whl") != b.endswith(".whl") or a.endswith(".zip") != b.endswith(".zip"):
        return False
    try:
        if a.endswith(".whl"):
            return parse_wheel_filename(a) == parse_wheel_filename(b)
        return dist_version(a) is not None and dist_version(a) == dist_version(b)
    except (InvalidWheelFilename, InvalidVersion):
        return False


# -- versions as pip reads them -------------------------------------------------------------------


def pin_specifier(pin: Version | SpecifierSet) -> SpecifierSet:
    """The specifier pip applies for a pin: ``Version("1.0")`` is ``==1.0``; a set is kept."""
    return pin if isinstance(pin, SpecifierSet) else SpecifierSet(f"=={pin}")


def installs(spec: SpecifierSet, version: Version) -> bool:
    """Whether pip, asked for ``spec``, may install a file of ``version``.

    PEP 440 matching, pre-releases included (an exact pin names them explicitly when it wants
    one; counting them in can only make the tool check more files, never fewer).
    """
    return spec.contains(version, prereleases=True)


@dataclass(frozen=True)
class IndexFile:
    """What pip makes of one file name on a project's index page."""

    filename: str
    version: Version | None
    """The version pip reads from the name; None when it cannot tell."""
    problem: str | None
    """None for a wheel or sdist this tool verifies; otherwise why it does not."""
    pip_installs: bool
    """Whether pip would install this file for a pin of ``version``."""


def read_index_filename(filename: str, project: NormalizedName) -> IndexFile | None:
    """Read a file name on ``project``'s page as pip would; None if it is another project's.

    A name whose prefix is the project but which does not parse is still the project's file:
    it comes back with a ``problem`` (and its version, when a version can be made out), so the
    caller can report it instead of dropping it.
    """
    if filename.endswith(".whl"):
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            if _after_project(filename, project) is None:
                return None
            return IndexFile(
                filename,
                _version_prefix(filename, project),
                f"not a valid wheel file name ({exc}): pip skips it, and verify-release "
                "cannot check it",
                pip_installs=False,
            )
        return IndexFile(filename, version, None, True) if name == project else None
    for suffix in SDIST_FORMATS + PIP_ONLY_SDIST_FORMATS:
        if filename.endswith(suffix):
            text = _after_project(filename.removesuffix(suffix), project)
            if text is None:
                return None
            try:
                version = Version(text)
            except InvalidVersion:
                return IndexFile(
                    filename,
                    None,
                    f"{text!r} is not a PEP 440 version: pip skips the file, and verify-release "
                    "cannot tell which release it belongs to",
                    pip_installs=False,
                )
            if suffix in SDIST_FORMATS:
                return IndexFile(filename, version, None, True)
            return IndexFile(
                filename,
                version,
                f"pip installs a {suffix} sdist, but verify-release checks only wheels and "
                ".tar.gz or .zip sdists",
                pip_installs=True,
            )
    if _after_project(filename, project) is None:
        return None
    legacy = next((s for s in LEGACY_FORMATS if filename.endswith(s)), None)
    problem = (
        f"a {legacy} file: pip never installs one, and verify-release does not check it"
        if legacy
        else "not a wheel or sdist file name: pip skips it, and verify-release does not check it"
    )
    return IndexFile(filename, _version_prefix(filename, project), problem, pip_installs=False)


def unsupported_reason(filename: str, project: NormalizedName) -> str | None:
    """Why a file of ``project`` (one of ``Release.unparsed``) is not verified; None if it is."""
    found = read_index_filename(filename, project)
    return None if found is None else found.problem


def _after_project(stem: str, project: NormalizedName) -> str | None:
    """What follows the project's name and one dash in ``stem``, as pip splits an sdist name.

    pip takes the first dash before which the text normalises to the project's name; None when
    there is none (or nothing follows it): the file is not the project's.
    """
    for index, char in enumerate(stem):
        if char == "-" and canonicalize_name(stem[:index]) == project:
            return stem[index + 1 :] or None
    return None


def _version_prefix(filename: str, project: NormalizedName) -> Version | None:
    """The version a legacy or malformed name most likely carries, or None.

    The longest run after the project's name, cut at a ``-`` or ``.``, that is a valid version:
    ``1.0`` in ``demo-1.0.win32-py2.7.exe`` and ``demo-1.0-py2.7.egg``.
    """
    rest = _after_project(filename, project)
    if rest is None:
        return None
    cuts = [i for i, c in enumerate(rest) if c in "-."] + [len(rest)]
    for cut in reversed(cuts):
        try:
            return Version(rest[:cut])
        except InvalidVersion:
            continue
    return None
