"""``poetry.lock``: Poetry's lockfile (TOML, ``[metadata] lock-version = "2.x"``).

Each ``[[package]]`` has ``name``, ``version`` and ``files = [{file = ..., hash = "sha256:..."}]``
(lock files older than 2.0 keep the files in ``[metadata.files]`` by project name instead). A
``[package.source]`` table says where a package comes from when it is not PyPI: ``legacy`` is
another index; ``git``, ``directory``, ``file`` and ``url`` cannot be checked against an index
and are kept with a ``skip_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from verifier.lockfiles import Location, Lockfile, PinnedFile, PinnedPackage
from verifier.lockfiles._common import (
    Section,
    Where,
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

FORMAT = "poetry.lock"
_INDEX_TYPES = ("legacy", "pypi")
"""Source types that name a package index (``legacy`` is any PEP 503 simple index)."""


def parse_poetry_lock(text: str, *, path: Path) -> Lockfile:
    """Parse the text of a ``poetry.lock`` read from ``path``."""
    data = load_toml(text, path)
    top = Where(path)
    entries = get_tables(data, "package", top)
    metadata = get_table(data, "metadata", top) or {}
    legacy_files = get_table(metadata, "files", top.at("metadata")) or {}
    found = sections(text, "package")
    packages = tuple(
        _package(entry, top.at("package").at(i), found, i, len(entries), legacy_files)
        for i, entry in enumerate(entries)
    )
    return Lockfile(path=path, format=FORMAT, packages=packages)


def _package(
    entry: Mapping[str, Any],
    where: Where,
    found: Sequence[Section],
    index: int,
    count: int,
    legacy_files: Mapping[str, Any],
) -> PinnedPackage:
    where = where.on_line(section_line(found, index, count, entry.get("name")))
    raw_name = require_str(entry, "name", where)
    name = project_name(raw_name, where.at("name"))
    version = normal_version(require_str(entry, "version", where), where.at("version"))
    if "files" in entry:
        files = _files(get_tables(entry, "files", where), where.at("files"))
    else:
        # lock-version 1.x: ``[metadata.files]`` maps the name as written to the same array.
        at = Where(where.path, None, "metadata.files")
        files = _files(get_tables(legacy_files, raw_name, at), at.at(raw_name))
    location = Location(str(where.path), where.line)
    source = get_table(entry, "source", where)
    if source is None:
        return PinnedPackage(name, version, files, location)
    source_at = where.at("source")
    kind = require_str(source, "type", source_at)
    url = require_str(source, "url", source_at)
    if kind in _INDEX_TYPES:
        return PinnedPackage(name, version, files, location, index_url=url)
    develop = entry.get("develop") is True
    if kind == "directory":
        source_name = "editable" if develop else "directory"
        what = "editable install of" if develop else "built from"
        reason = f"{what} the local directory {redact(url)}"
    elif kind == "file":
        source_name = "path"
        reason = f"installed from the local file {redact(url)}"
    elif kind == "git":
        source_name = "git"
        reference = source.get("resolved_reference") or source.get("reference")
        ref = f" at {reference}" if isinstance(reference, str) and reference else ""
        reason = f"built from the git repository {redact(url)}{ref}"
    elif kind == "url":
        source_name = "url"
        reason = f"downloaded from the URL {redact(url)}, not from an index"
    else:
        source_name = kind
        reason = f"from a {kind!r} source, which cannot be checked against an index"
    return PinnedPackage(name, version, files, location, source=source_name, skip_reason=reason)


def _files(entries: Sequence[Mapping[str, Any]], where: Where) -> tuple[PinnedFile, ...]:
    """Every file with its hash, whatever the algorithm.

    Poetry writes sha256; another algorithm is kept for the pipeline to refuse, never dropped.
    """
    files: list[PinnedFile] = []
    for index, entry in enumerate(entries):
        at = where.at(index)
        filename = plain_file_name(require_str(entry, "file", at), at.at("file"))
        algorithm, digest = split_hash(require_str(entry, "hash", at), at.at("hash"))
        files.append(PinnedFile(filename=filename, hashes={algorithm: digest}))
    return tuple(files)
