"""``pylock.toml`` (PEP 751), validated by ``packaging.pylock``.

``packaging.pylock.Pylock.from_dict`` checks the whole file against the specification (types,
normalized names, one source per package, file names consistent with name and version), so
this module only maps its model onto ours; the raw TOML is used for line numbers alone.
Packages with ``sdist``/``wheels`` come from an index (``index`` records which); ``vcs``,
``directory`` and ``archive`` packages cannot be checked against one and get a ``skip_reason``.
``attestation-identities`` become ``PinnedPackage.attestation_identities``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.dists import dist_version
from verifier.lockfiles import Location, Lockfile, LockfileError, PinnedFile, PinnedPackage
from verifier.lockfiles._common import (
    Section,
    Where,
    file_name,
    hash_table,
    load_toml,
    normal_version,
    plain_file_name,
    redact,
    section_line,
    sections,
)

if TYPE_CHECKING:
    from packaging.pylock import Package

FORMAT = "pylock.toml"


def parse_pylock(text: str, *, path: Path) -> Lockfile:
    """Parse the text of a ``pylock.toml`` (or ``pylock.NAME.toml``) read from ``path``."""
    try:
        from packaging.pylock import Pylock, PylockValidationError
    except ImportError:  # pragma: no cover - packaging < 26.0
        raise LockfileError(
            f"{path}: reading pylock.toml needs packaging >= 26.0",
            hint="upgrade the 'packaging' distribution",
        ) from None
    data = load_toml(text, path)
    found = sections(text, "packages")
    raw = data.get("packages")
    count = len(raw) if isinstance(raw, list) else 0
    try:
        lock = Pylock.from_dict(data)
    except PylockValidationError as exc:
        raise _validation_error(exc, path, found, raw, count) from None
    top = Where(path).at("packages")
    packages = tuple(
        _package(package, top.at(i).on_line(section_line(found, i, count, package.name)))
        for i, package in enumerate(lock.packages)
    )
    return Lockfile(path=path, format=FORMAT, packages=packages)


def _validation_error(
    exc: Exception, path: Path, found: Sequence[Section], raw: Any, count: int
) -> LockfileError:
    """``packaging``'s message, with the line of the package it is about when known."""
    context: str | None = getattr(exc, "context", None)
    message: str = getattr(exc, "message", str(exc))
    line = None
    if context and context.startswith("packages["):
        index_text = context[len("packages[") :].split("]", 1)[0]
        if index_text.isdigit() and int(index_text) < count:
            index = int(index_text)
            entry = raw[index]
            name = entry.get("name") if isinstance(entry, Mapping) else None
            line = section_line(found, index, count, name)
    where = Where(path, line, context or "")
    return where.error(message)


def _package(package: Package, where: Where) -> PinnedPackage:
    location = Location(str(where.path), where.line)
    identities = _identities(package.attestation_identities, where.at("attestation-identities"))
    version = "" if package.version is None else normal_version(str(package.version), where)
    common: dict[str, Any] = {"attestation_identities": identities}
    if package.vcs is not None:
        vcs = package.vcs
        origin = redact(vcs.url) if vcs.url else vcs.path
        return PinnedPackage(
            package.name,
            version,
            (),
            location,
            source="git" if vcs.type == "git" else vcs.type,
            skip_reason=f"built from the {vcs.type} repository {origin} at {vcs.commit_id}",
            **common,
        )
    if package.directory is not None:
        editable = bool(package.directory.editable)
        what = "editable install of" if editable else "built from"
        return PinnedPackage(
            package.name,
            version,
            (),
            location,
            source="editable" if editable else "directory",
            skip_reason=f"{what} the local directory {redact(package.directory.path)}",
            **common,
        )
    if package.archive is not None:
        archive = package.archive
        at = where.at("archive")
        pin = _pin(archive.hashes, archive.url, archive.path, None, at)
        if archive.url is not None:
            source, reason = (
                "url",
                f"downloaded from the URL {redact(archive.url)}, not from an index",
            )
        else:
            source, reason = "path", f"installed from the local file {redact(archive.path or '')}"
        return PinnedPackage(
            package.name,
            version,
            (pin,),
            location,
            source=source,
            skip_reason=reason,
            **common,
        )
    files: list[PinnedFile] = []
    dists: list[tuple[Any, Where]] = []
    if package.sdist is not None:
        dists.append((package.sdist, where.at("sdist")))
    dists += [(w, where.at("wheels").at(i)) for i, w in enumerate(package.wheels or ())]
    for dist, at in dists:
        files.append(_pin(dist.hashes, dist.url, dist.path, dist.name, at))
    if not version:
        # PEP 751 makes ``version`` optional; an index release needs one. The file names
        # carry it (packaging has checked that they agree with the name).
        version = _version_from_files(files, where)
    return PinnedPackage(
        package.name, version, tuple(files), location, index_url=package.index, **common
    )


def _pin(
    hashes: Mapping[str, str], url: str | None, path: str | None, name: str | None, where: Where
) -> PinnedFile:
    """The file with every digest of its ``hashes`` table (any algorithm, none dropped).

    The file name is taken from the URL first: it is the index's own spelling, which the chain
    compares with the index. ``name`` may be normalized (uv writes ``markupsafe-3.0.2-...whl``
    for PyPI's ``MarkupSafe-3.0.2-...whl``); it is used, checked, when there is no URL.
    """
    checked = hash_table(hashes, where.at("hashes"))
    if name is not None:
        filename = plain_file_name(name, where.at("name"))
    if url is not None:
        filename = file_name(url, where.at("url"))
    elif name is None:
        filename = file_name(path or "", where.at("path"))
    return PinnedFile(filename=filename, url=url, hashes=checked)


def _version_from_files(files: Sequence[PinnedFile], where: Where) -> str:
    """The version in the name of the first wheel or sdist (they all agree, packaging checks)."""
    for pin in files:
        found = dist_version(pin.filename or "")
        if found is not None:
            return str(found[1])
    raise where.at("version").error("missing, and no file name carries it")


def _identities(
    raw: Sequence[Mapping[str, Any]] | None, where: Where
) -> tuple[dict[str, str], ...]:
    """``attestation-identities``: tables of strings with at least a ``kind``."""
    identities: list[dict[str, str]] = []
    for index, table in enumerate(raw or ()):
        at = where.at(index)
        identity: dict[str, str] = {}
        for key, value in table.items():
            if not isinstance(value, str):
                raise at.at(str(key)).error(f"expected a string, found {type(value).__name__}")
            identity[str(key)] = value
        if not identity.get("kind"):
            raise at.at("kind").error("missing")
        identities.append(identity)
    return tuple(identities)
