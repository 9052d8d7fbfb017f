"""Requirements files (``pip install -r``) as ``uv export`` and ``pip-compile`` write them.

Lines are read the way pip reads them: a trailing backslash joins the next line (the logical
line keeps the number of its first line), ``#`` starts a comment at the start of a line or after
whitespace, and the requirement comes before the first token that starts with ``-``; the rest
are options (``--hash=sha256:...``). ``${VAR}`` is not expanded: a lockfile should not depend on
the environment of whoever checks it.

Every requirement must be an exact ``==`` pin. Environment markers and extras are accepted and
not evaluated: every pinned package is checked, whichever platform it is meant for. Editable,
path and URL requirements cannot be checked against an index and get a ``skip_reason``.
``-r``/``--requirement`` includes are read relative to the including file (up to
``MAX_INCLUDE_DEPTH`` deep, cycles refused); ``-c`` constraint files pin nothing and are not read.
``--index-url`` is recorded on the packages (the last one wins, as in pip), and so are
``--extra-index-url`` and ``--find-links`` (every one, in order) and ``--no-index``: they change
where pip looks for every package, so the pipeline must see them to refuse what it cannot check.
The other pip options (``--no-binary``, ``--trusted-host``, ...) are accepted and ignored.

Each ``--hash`` value is one file pip would accept, whatever its algorithm: a line with a
sha256 and a sha512 value allows two files, so it gives two ``PinnedFile``s.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from verifier.dists import dist_version
from verifier.lockfiles import Location, Lockfile, LockfileError, PinnedFile, PinnedPackage
from verifier.lockfiles._common import (
    Where,
    normal_version,
    project_name,
    read_text,
    redact,
    short,
    split_hash,
)

FORMAT = "requirements"
MAX_INCLUDE_DEPTH = 10
"""How deep ``-r`` includes may nest; real projects use two or three levels."""

_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_SCHEMES = ("http", "https", "file", "ftp")
_VCS = ("git", "hg", "svn", "bzr")
_NOT_PLAIN = re.compile(r"['\"\\]|[^\S \t]")
"""A quote, a backslash, or whitespace other than space and tab. Options text without any is
split by ``shlex.split`` exactly as by ``str.split``; shlex reads character by character and
was most of the parse time of a 200-package lockfile. (One character class, no nesting: a
hostile lockfile cannot make it backtrack.)"""
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)

# pip's requirements-file options: canonical long name -> takes a value.
_OPTIONS = {
    "--index-url": True,
    "--pypi-url": True,
    "--extra-index-url": True,
    "--no-index": False,
    "--constraint": True,
    "--requirement": True,
    "--editable": True,
    "--find-links": True,
    "--no-binary": True,
    "--only-binary": True,
    "--prefer-binary": False,
    "--require-hashes": False,
    "--no-require-hashes": False,
    "--pre": False,
    "--all-releases": True,
    "--only-final": True,
    "--trusted-host": True,
    "--use-feature": True,
    "--hash": True,
    "--config-settings": True,
    "--global-option": True,
}
_SHORT = {
    "-i": "--index-url",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
    "-f": "--find-links",
    "-C": "--config-settings",
}
_PER_REQUIREMENT = ("--hash", "--config-settings", "--global-option")
_NOT_WITH_REQUIREMENT = ("--requirement", "--constraint", "--editable")


def parse_requirements(text: str, *, path: Path) -> Lockfile:
    """Parse the text of a requirements file read from ``path`` (includes are read from disk)."""
    state = _State()
    packages = list(_parse(text, path, state, stack=(_identity(path),)))
    packages = [
        dataclasses.replace(
            p,
            index_url=state.index_url,
            extra_index_urls=tuple(state.extra_index_urls),
            find_links=tuple(state.find_links),
            no_index=state.no_index,
        )
        if p.source == "index"
        else p
        for p in packages
    ]
    return Lockfile(path=path, format=FORMAT, packages=tuple(packages))


@dataclasses.dataclass
class _State:
    """What the whole parse shares: the index options and the files already read.

    As in pip, the index options apply to the whole file and its includes, wherever written.
    """

    index_url: str | None = None
    extra_index_urls: list[str] = dataclasses.field(default_factory=list)
    find_links: list[str] = dataclasses.field(default_factory=list)
    no_index: bool = False
    done: set[Path] = dataclasses.field(default_factory=set)


def _identity(path: Path) -> Path:
    """The absolute, normalized path that identifies a file for cycle detection (as pip)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(first line number, text)`` of each non-empty logical line, comments removed (as pip)."""
    first: int | None = None
    parts: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.endswith("\\") or _COMMENT.match(line):
            if _COMMENT.match(line):
                line = " " + line
            if parts:
                parts.append(line)
                yield from _strip(first or number, "".join(parts))
                parts = []
            else:
                yield from _strip(number, line)
        else:
            if not parts:
                first = number
            parts.append(line.strip("\\"))
    if parts:
        yield from _strip(first or 1, "".join(parts))


def _strip(number: int, line: str) -> Iterator[tuple[int, str]]:
    line = _COMMENT.sub("", line).strip()
    if line:
        yield number, line


def _parse(
    text: str, path: Path, state: _State, stack: tuple[Path, ...]
) -> Iterator[PinnedPackage]:
    state.done.add(stack[-1])
    for number, line in logical_lines(text):
        where = Where(path, number)
        args, options = _split(line, where)
        names = [option for option, _ in options]
        for option, value in options:
            if option in ("--index-url", "--pypi-url"):
                state.index_url = value
            elif option == "--extra-index-url":
                state.extra_index_urls.append(value)
            elif option == "--find-links":
                state.find_links.append(value)
            elif option == "--no-index":
                state.no_index = True
        hashes = tuple(value for option, value in options if option == "--hash")
        if args:
            clash = next((o for o in names if o in _NOT_WITH_REQUIREMENT), None)
            if clash is not None:
                raise where.error(
                    f"{clash} cannot share a line with the requirement {redact(args)!r}"
                )
            yield _requirement(args, hashes, where)
            continue
        editable = [value for option, value in options if option == "--editable"]
        if editable:
            yield _editable(editable[-1], path, where)
            continue
        per_requirement = next((o for o in names if o in _PER_REQUIREMENT), None)
        if per_requirement is not None:
            raise where.error(f"{per_requirement} given without a requirement")
        for option, value in options:
            if option == "--requirement":
                yield from _include(value, path, where, state, stack)
            elif option == "--constraint":
                _constraint_options(value, path, where, state, stack)


def _split(line: str, where: Where) -> tuple[str, list[tuple[str, str]]]:
    """The requirement text and the ``(option, value)`` pairs of a logical line (as pip).

    The requirement is everything before the first token starting with ``-`` (markers can hold
    quotes that ``shlex`` would mangle); the options are split like a shell would.
    """
    tokens = line.split(" ")
    cut = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    args = " ".join(tokens[:cut]).strip()
    text = " ".join(tokens[cut:])
    if _NOT_PLAIN.search(text) is None:
        words = text.split()
    else:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise where.error(f"cannot split the options: {exc}") from None
    options: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        attached: str | None = None
        if word.startswith("--"):
            given, eq, rest = word.partition("=")
            option = _long_option(given, where)
            attached = rest if eq else None
        elif word.startswith("-") and len(word) > 1 and word[:2] in _SHORT:
            option = _SHORT[word[:2]]
            attached = word[2:] or None
        elif word.startswith("-"):
            raise where.error(f"unknown option {redact(word)!r}")
        else:
            raise where.error(
                f"unexpected {redact(word)!r} among the options (one requirement a line)"
            )
        if not _OPTIONS[option]:
            if attached is not None:
                raise where.error(f"{option} takes no value")
            options.append((option, ""))
            continue
        if attached is None:
            if index >= len(words):
                raise where.error(f"{option} needs a value")
            attached = words[index]
            index += 1
        if not attached:  # ``--index-url ''``: pip would use an empty URL
            raise where.error(f"{option} needs a value")
        options.append((option, attached))
    return args, options


def _long_option(given: str, where: Where) -> str:
    """An exact long option, or a unique prefix of one (optparse accepts those, so pip does)."""
    if given in _OPTIONS:
        return given
    matches = [option for option in _OPTIONS if option.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise where.error(f"ambiguous option {given!r}: {', '.join(matches)}")
    raise where.error(f"unknown option {given!r}")


def _include(
    value: str,
    path: Path,
    where: Where,
    state: _State,
    stack: tuple[Path, ...],
    *,
    flag: str = "-r",
) -> Iterator[PinnedPackage]:
    if _scheme(value):
        raise where.error(
            f"{flag} {redact(value)}: requirement files from URLs are not read",
            hint="download the file and pass its local copy",
        )
    included = path.parent / value
    identity = _identity(included)
    if identity in stack:
        chain = " -> ".join(str(p) for p in (*stack, identity))
        raise where.error(f"{flag} {value}: include cycle: {chain}")
    if len(stack) > MAX_INCLUDE_DEPTH:
        raise where.error(f"{flag} {value}: includes are nested more than {MAX_INCLUDE_DEPTH} deep")
    if identity in state.done:
        return  # already read through another include: its pins are in the result once
    try:
        text = read_text(included, what="included requirements file")
    except LockfileError as exc:
        raise where.error(f"{flag} {value}: {exc}") from None
    yield from _parse(text, included, state, (*stack, identity))


def _constraint_options(
    value: str, path: Path, where: Where, state: _State, stack: tuple[Path, ...]
) -> None:
    """A constraints file's index options, which pip applies to the whole install.

    pip reads ``--index-url``, ``--extra-index-url``, ``--find-links`` and ``--no-index`` from a
    ``-c`` file too, though its pins install nothing: an index hidden there is still where the
    packages come from, so it is recorded like one written here (and the pipeline refuses it).
    The walk has its own record of files read, so a file that is also a ``-r`` keeps its pins.
    """
    own = _State()
    for _ in _include(value, path, where, own, stack, flag="-c"):
        pass  # constraints pin nothing that gets installed
    if own.index_url is not None:
        state.index_url = own.index_url
    state.extra_index_urls += own.extra_index_urls
    state.find_links += own.find_links
    state.no_index = state.no_index or own.no_index


_PLAIN_PIN = re.compile(
    r"[ \t]*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)[ \t]*==[ \t]*"
    r"([0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
    r"(?:\+[a-z0-9]+(?:\.[a-z0-9]+)*)?)[ \t]*"
)
"""A bare ``name==version`` (a PEP 508 name, a PEP 440 version in its usual spelling), read
without packaging's requirement grammar; anything else (extras, markers, URLs, other spellings)
goes through it. Why: importing that grammar (``packaging.requirements``, whose tokenizer
compiles its patterns at import) cost more than a warm run's lockfile work, for lines that
``uv export`` and ``pip-compile`` almost always write this way. A property test checks that
both readings agree on every line this one accepts."""


def _requirement(args: str, hashes: tuple[str, ...], where: Where) -> PinnedPackage:
    """One requirement line: an exact ``name==version`` pin, or a path/URL to skip."""
    files = _files(hashes, where)
    location = Location(str(where.path), where.line)
    plain = _PLAIN_PIN.fullmatch(args)
    if plain is not None:
        name, version = plain.groups()
        return PinnedPackage(
            project_name(name, where), normal_version(version, where), files, location
        )
    if _scheme(args):
        target = args.split("; ", 1)[0].strip()
        return _direct(target, None, files, where, location)
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(args)
    except InvalidRequirement as exc:
        if _looks_like_path(args):
            target = args.split(";", 1)[0].strip()
            return _direct(target, None, files, where, location)
        # packaging's message goes on to draw the line with a caret under the fault: the
        # first line is the message; the line itself is cut short (it can be megabytes).
        reason = str(exc).split("\n", 1)[0]
        raise where.error(f"invalid requirement {short(redact(args))}: {reason}") from None
    name = project_name(requirement.name, where)
    if requirement.url:
        return _direct(requirement.url, name, files, where, location)
    specifiers = list(requirement.specifier)
    pin = specifiers[0] if len(specifiers) == 1 else None
    if pin is None or pin.operator != "==" or pin.version.endswith(".*"):
        raise where.error(
            f"{requirement.name} is not pinned to one version with '==': {args!r}",
            hint="lockfiles pin every package exactly; regenerate the file with "
            "`uv export` or `pip-compile --generate-hashes`",
        )
    version = normal_version(pin.version, where)
    return PinnedPackage(name, version, files, location)


def _editable(value: str, path: Path, where: Where) -> PinnedPackage:
    """An ``-e``/``--editable`` line: a local directory or VCS checkout, never from an index."""
    from packaging.requirements import InvalidRequirement, Requirement

    name: NormalizedName | None = None
    target = value
    try:
        requirement = Requirement(value)
    except InvalidRequirement:
        pass
    else:
        if requirement.url:
            name, target = canonicalize_name(requirement.name), requirement.url
    name, version = _name_version(target, name, path)
    origin = redact(target)
    return PinnedPackage(
        name,
        version,
        (),
        Location(str(where.path), where.line),
        source="editable",
        skip_reason=f"editable install of {origin}",
    )


def _direct(
    target: str,
    name: NormalizedName | None,
    files: tuple[PinnedFile, ...],
    where: Where,
    location: Location,
) -> PinnedPackage:
    """A requirement given as a URL or a local path (``name @ url``, ``./dir``, ``x.whl``)."""
    scheme = _scheme(target) or _any_scheme(target)
    vcs = scheme.partition("+")[0]
    if vcs in _VCS:
        source, reason = vcs, f"built from the {vcs} repository {redact(target)}"
    elif (scheme == "file" or not scheme) and _dist_filename(target) is None:
        source, reason = "directory", f"built from the local directory {redact(target)}"
    elif scheme == "file" or not scheme:
        source, reason = "path", f"installed from the local file {redact(target)}"
    elif scheme not in _URL_SCHEMES:
        # ``name @ s3://...``: a URL scheme pip does not know; never taken for an index.
        source, reason = "url", f"from {redact(target)}, which is not an index"
    else:
        source, reason = "url", f"downloaded from the URL {redact(target)}, not from an index"
    name, version = _name_version(target, name, where.path)
    filename = _dist_filename(target)
    if filename is not None:
        url = target if scheme and source == "url" else None
        files = tuple(dataclasses.replace(f, filename=filename, url=url) for f in files)
    return PinnedPackage(name, version, files, location, source=source, skip_reason=reason)


def _files(hashes: tuple[str, ...], where: Where) -> tuple[PinnedFile, ...]:
    """One file per distinct ``--hash`` value of a line, whatever the algorithm.

    pip installs a file that matches ANY of the values, so each is a file of its own: an
    ``md5`` or ``sha512`` value next to a good sha256 is another file pip would accept.
    """
    pins: dict[tuple[str, str], PinnedFile] = {}
    for value in hashes:
        algorithm, digest = split_hash(value, where.at("--hash"))
        pins.setdefault((algorithm, digest), PinnedFile(hashes={algorithm: digest}))
    return tuple(pins.values())


def _scheme(text: str) -> str:
    """The URL scheme pip knows that ``text`` starts with (``https``, ``git+ssh``), or ``""``."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", text)
    if match is None:
        return ""
    scheme = match.group(1).lower()
    if scheme in _URL_SCHEMES or scheme.partition("+")[0] in _VCS:
        return scheme
    return ""


def _any_scheme(text: str) -> str:
    """Any URL scheme ``text`` starts with (two characters or more: ``C:`` is a drive)."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):", text)
    return match.group(1).lower() if match else ""


def _looks_like_path(text: str) -> bool:
    """Pip's test for a local path: a separator, a leading dot, or an archive name."""
    return (
        "/" in text
        or "\\" in text
        or text.startswith(".")
        or text.split(";", 1)[0].strip().endswith((".whl", ".tar.gz", ".zip", ".tar.bz2"))
    )


def _dist_filename(target: str) -> str | None:
    """The wheel or sdist file name a URL or path ends in, if it ends in one."""
    segment = re.split(r"[/\\]", target.split("#", 1)[0].split("?", 1)[0].rstrip("/\\"))[-1]
    if segment.endswith((".whl", ".tar.gz", ".zip")) and _VALID_NAME.match(segment.split("-")[0]):
        return segment
    return None


def _name_version(
    target: str, name: NormalizedName | None, base: Path
) -> tuple[NormalizedName, str]:
    """Best-effort name and version of a direct requirement, for the report only.

    The ``#egg=`` fragment or a wheel/sdist file name gives the name (and the file name the
    version); a bare directory gives its own name. A directory's version is unknown (``""``).
    """
    version = ""
    filename = _dist_filename(target)
    found = dist_version(filename) if filename is not None else None
    if found is not None and (name is None or found[0] == name):
        name, version = found[0], str(found[1])
    if name is None:
        egg = re.search(r"[#&]egg=([^&]+)", target)
        if egg and _VALID_NAME.match(egg.group(1)):
            name = canonicalize_name(egg.group(1))
    if name is None:
        local = target if not _scheme(target) else target.split("#", 1)[0].split("?", 1)[0]
        if not _scheme(target):
            local = os.path.normpath(os.path.join(base.parent, target.split("[", 1)[0]))
        segment = re.split(r"[/\\]", local.rstrip("/\\"))[-1]
        segment = segment.removesuffix(".git")
        name = canonicalize_name(segment) if _VALID_NAME.match(segment) else None
    return name or NormalizedName("unknown"), version
