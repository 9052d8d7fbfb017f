"""``uv.lock``: uv's own lockfile (TOML, ``version = 1``).

Each ``[[package]]`` has a ``name``, a ``version`` (absent for a workspace member with a
dynamic version), one ``source`` table saying where it comes from, and for index packages an
``sdist`` table and a ``wheels`` array, each file with ``url``, ``hash = "sha256:..."`` and
``size``. Only ``source = { registry = ... }`` packages can be checked against an index; every
other source is kept with a ``skip_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from verifier.lockfiles import Location, Lockfile, PinnedFile, PinnedPackage
from verifier.lockfiles._common import (
    Section,
    Where,
    file_name,
    get_str,
    get_table,
    get_tables,
    load_toml,
    normal_version,
    plain_file_name,
    project_name,
    redact,
    require_str,
    section_line,
    sections,
    split_hash,
)

FORMAT = "uv.lock"
SUPPORTED_VERSIONS = (1,)
_SOURCES = ("registry", "editable", "virtual", "git", "path", "directory", "url")


def parse_uv_lock(text: str, *, path: Path) -> Lockfile:
    """Parse the text of a ``uv.lock`` read from ``path``."""
    data = load_toml(text, path)
    top = Where(path)
    version = data.get("version")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise top.at("version").error(
            f"unsupported uv.lock version {version!r} (this verifier reads version 1)",
            hint="regenerate the lockfile with a uv release that writes version 1, or upgrade "
            "verify-release",
        )
    entries = get_tables(data, "package", top)
    found = sections(text, "package")
    packages = tuple(
        _package(entry, top.at("package").at(index), found, index, len(entries))
        for index, entry in enumerate(entries)
    )
    return Lockfile(path=path, format=FORMAT, packages=packages)


def _package(
    entry: Mapping[str, Any], where: Where, found: list[Section], index: int, count: int
) -> PinnedPackage:
    where = where.on_line(section_line(found, index, count, entry.get("name")))
    name = project_name(require_str(entry, "name", where), where.at("name"))
    raw_version = get_str(entry, "version", where)
    version = "" if raw_version is None else normal_version(raw_version, where.at("version"))
    source = get_table(entry, "source", where)
    if source is None:
        raise where.at("source").error("missing")
    kinds = [key for key in _SOURCES if key in source]
    if len(kinds) != 1:
        raise where.at("source").error(
            f"expected exactly one of {', '.join(_SOURCES)}; found {sorted(source) or 'none'}"
        )
    kind = kinds[0]
    value = require_str(source, kind, where.at("source"))
    files = _files(entry, where)
    location = Location(str(where.path), where.line)
    if kind == "registry":
        if raw_version is None:
            raise where.at("version").error("missing (required for a package from an index)")
        return PinnedPackage(name, version, files, location, index_url=value)
    if kind == "virtual" or (kind == "editable" and value == "."):
        reason = "the project itself"
    elif kind == "editable":
        reason = f"editable install of the local directory {redact(value)}"
    elif kind == "directory":
        reason = f"built from the local directory {redact(value)}"
    elif kind == "path":
        reason = f"installed from the local file {redact(value)}"
    elif kind == "git":
        reason = f"built from the git repository {redact(value)}"
    else:
        reason = f"downloaded from the URL {redact(value)}, not from an index"
    source_name = "directory" if kind == "virtual" else kind
    return PinnedPackage(name, version, files, location, source=source_name, skip_reason=reason)


def _files(entry: Mapping[str, Any], where: Where) -> tuple[PinnedFile, ...]:
    """The sdist and every wheel, each with its hash whatever the algorithm (or none).

    A file hashed with another algorithm than sha256, or not at all, is still a file uv may
    install: it is kept, so that the pipeline sees it and refuses what it cannot compare.

    A file is located by ``url`` (remote), ``path`` (a local ``--find-links`` registry) or, for
    wheels of a path source, just ``filename``; an sdist of a git or directory source has only
    ``hash`` and ``size``.
    """
    files: list[PinnedFile] = []
    sdist = get_table(entry, "sdist", where)
    dists = [(sdist, where.at("sdist"))] if sdist is not None else []
    wheels = get_tables(entry, "wheels", where)
    dists += [(wheel, where.at("wheels").at(index)) for index, wheel in enumerate(wheels)]
    for dist, at in dists:
        url = get_str(dist, "url", at)
        local = get_str(dist, "path", at)
        given = get_str(dist, "filename", at)
        filename: str | None = None
        if url is not None or local is not None:
            filename = file_name(
                url if url is not None else str(local), at.at("url" if url else "path")
            )
        elif given is not None:
            filename = plain_file_name(given, at.at("filename"))
        digest = get_str(dist, "hash", at)
        hashes = dict([split_hash(digest, at.at("hash"))]) if digest is not None else {}
        files.append(PinnedFile(filename=filename, url=url, hashes=hashes))
    return tuple(files)
