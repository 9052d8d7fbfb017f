"""Client for a Python package index: PEP 691 simple JSON, PyPI's JSON and Integrity APIs.

Turns untrusted wire data into frozen ``Release``/``ReleaseFile`` models. Every shape error names
where in the response it was found (``files[3].hashes.sha256``), because an index that serves
malformed data is itself evidence worth reporting exactly.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from verifier.dists import (
    IndexFile,
    check_filename,
    check_sha256,
    installs,
    is_plain_filename,
    is_sha256,
    pin_specifier,
    read_index_filename,
)
from verifier.errors import NotFoundError, RefusedURL, UpstreamError, UsageError
from verifier.http import HttpClient, check_url, redact_url
from verifier.models import Release, ReleaseFile

__all__ = [
    "DEFAULT_INDEX_URL",
    "INTEGRITY_JSON",
    "MAX_PROVENANCE_BYTES",
    "SIMPLE_JSON",
    "IndexClient",
    "SimplePage",
    "normalize_index_url",
    "parse_pin",
    "parse_pin_specifier",
    "parse_simple_page",
    "read_simple_page",
]

DEFAULT_INDEX_URL = "https://pypi.org"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
MAX_PROVENANCE_BYTES = 2 * 1024 * 1024
"""A provenance object holds a few attestations of a few KB each; 2 MB is generous."""


def normalize_index_url(url: str) -> str:
    """Accept ``https://pypi.org``, ``https://pypi.org/`` or ``https://pypi.org/simple/``.

    Returns the site root with a trailing slash, from which ``simple/``, ``pypi/`` and
    ``integrity/`` are resolved.
    """
    check_url(url)
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/simple"):
        path = path[: -len("/simple")]
    return parts._replace(path=path + "/", query="", fragment="").geturl()


class IndexClient:
    """Reads one index; the base URL is the site root (``https://pypi.org/``)."""

    def __init__(self, http: HttpClient, base_url: str = DEFAULT_INDEX_URL) -> None:
        self.http = http
        self.base_url = normalize_index_url(base_url)

    def _url(self, *segments: str) -> str:
        return urljoin(self.base_url, "/".join(quote(s, safe="") for s in segments) + "/")

    def release(self, name: NormalizedName, version: Version | SpecifierSet) -> Release:
        """Every file pip could install for ``name==version``, with its published sha256.

        ``version`` is a ``Version`` (read as ``==version``, so ``1.0`` also takes files spelt
        ``1.0.0`` and ``1.0+local``) or the pin's ``SpecifierSet`` (``===1.0`` takes ``1.0``
        only). Files of the release the tool cannot check come back in ``Release.unparsed``.
        """
        url = self._url("simple", name)
        what = f"index page for {name}"
        try:
            response = self.http.get(
                url,
                what=what,
                accept=SIMPLE_JSON,
                content_types=(SIMPLE_JSON, "application/json"),
                cache="revalidate",
            )
        except NotFoundError:
            raise NotFoundError(
                f"project {name!r} does not exist on {redact_url(self.base_url)}",
                hint="check the spelling, or pass --index-url for another index",
            ) from None
        data = response.json(what=what)
        found = read_simple_page(data, page_url=response.url, name=name, pin=version)
        if not found.files and not found.matched_unparsed:
            ordered = sorted(found.versions, key=_version_key)
            raise NotFoundError(
                f"{name} has no files for version {_spelt(version)} on "
                f"{redact_url(self.base_url)}; "
                f"versions with files: {', '.join(ordered[-8:]) or '(none)'}",
                hint=f"pick one of the listed versions, e.g. {name}=={ordered[-1]}"
                if ordered
                else None,
            )
        return Release(
            name=name,
            version=found.version,
            files=found.files,
            unparsed=found.unparsed,
            history=found.history,
        )

    def project_urls(self, name: NormalizedName, version: str) -> Mapping[str, str]:
        """``info.project_urls`` (plus ``home_page``) from PyPI's JSON API for one release.

        Only used to guess an expected repository when the user named none; failures raise and
        the caller reports that no identity could be taken from the index.
        """
        url = self._url("pypi", name, version, "json").rstrip("/")
        what = f"release metadata for {name}=={version}"
        data = self.http.get(
            url, what=what, content_types=("application/json",), cache="revalidate"
        ).json(what=what)
        info = data.get("info") if isinstance(data, dict) else None
        if not isinstance(info, dict):
            raise UpstreamError(f"release metadata for {name}=={version}: missing 'info' object")
        urls: dict[str, str] = {}
        raw = info.get("project_urls")
        if isinstance(raw, dict):
            urls.update({str(k): v for k, v in raw.items() if isinstance(v, str)})
        home = info.get("home_page")
        if isinstance(home, str) and home and "Homepage" not in urls:
            urls["Homepage"] = home
        return urls

    def provenance_for(self, file: ReleaseFile, name: NormalizedName) -> bytes:
        """The raw PEP 740 provenance of a file from ``release``, asked under its own version.

        The Integrity API files provenance under the release the file belongs to, which for
        ``demo==1.0`` may be ``1.0.0`` or ``1.0+cpu``: ``file.version``, not the pin.
        """
        if file.version is None:
            raise UsageError(
                f"{file.filename}: no release version to ask the index for its provenance",
                hint="take the file from IndexClient.release, which records its version",
            )
        return self.provenance(name, file.version, file.filename)

    def provenance_at(self, url: str, filename: str) -> bytes:
        """The raw PEP 740 provenance at the URL the index's page gives for ``filename``.

        The URL comes from the (hostile) page: it must pass ``check_url`` (``RefusedURL``) and
        be on the index's own host (``UpstreamError``), so a page cannot send the client, or the
        cached answer, to a host the user never named.
        """
        check_url(url)
        if _origin(url) != _origin(self.base_url):
            raise UpstreamError(
                f"provenance for {filename}: the index gives a URL on another host "
                f"({redact_url(url)}), not on {redact_url(self.base_url)}",
                hint="an index serves provenance from its own host; ask its operator",
            )
        # Same origin: ask with the index URL's own credentials (a private index's user:password
        # lives there, not in the page's URLs), as pip does for its index's host.
        own = urlsplit(url)._replace(netloc=urlsplit(self.base_url).netloc).geturl()
        return self._fetch_provenance(own, filename)

    def provenance(self, name: NormalizedName, version: str, filename: str) -> bytes:
        """The raw PEP 740 provenance object for one file (``NotFoundError`` when it has none).

        ``version`` must be the file's own release version (``ReleaseFile.version``); prefer
        ``provenance_for``.
        """
        url = self._url("integrity", name, version, filename, "provenance").rstrip("/")
        return self._fetch_provenance(url, filename)

    def _fetch_provenance(self, url: str, filename: str) -> bytes:
        response = self.http.get(
            url,
            what=f"provenance for {filename}",
            accept=INTEGRITY_JSON,
            max_bytes=MAX_PROVENANCE_BYTES,
            content_types=(INTEGRITY_JSON, "application/json"),
            cache="immutable",
        )
        return response.content


@dataclass(frozen=True)
class SimplePage:
    """What a PEP 691 project page holds for one pin."""

    files: tuple[ReleaseFile, ...]
    """Every wheel and sdist pip could install for the pin, each with its own version."""
    unparsed: tuple[str, ...]
    """Files of the project that may be the pin's but that this tool does not check."""
    versions: frozenset[str]
    """Every version with a file pip installs, for a "which versions exist" hint."""
    version: str
    """The release's version as the index spells it if all ``files`` agree, else the pin's."""
    matched_unparsed: bool
    """Whether an ``unparsed`` file is known to be of the pin's version (not merely unknown)."""
    history: tuple[ReleaseFile, ...] = ()
    """The files of the project's other releases (``Release.history``)."""


def parse_simple_page(
    data: Any, *, page_url: str, name: NormalizedName, version: Version | SpecifierSet
) -> tuple[list[ReleaseFile], set[str]]:
    """``read_simple_page``'s files and versions, for callers of the older shape."""
    found = read_simple_page(data, page_url=page_url, name=name, pin=version)
    return list(found.files), set(found.versions)


def read_simple_page(
    data: Any, *, page_url: str, name: NormalizedName, pin: Version | SpecifierSet
) -> SimplePage:
    """Pick out of a PEP 691 project page every file pip could install for ``pin``.

    Files are matched by PEP 440 specifier semantics (``==1.0.0`` takes ``1.0.0+evil``), their
    names read the way pip reads them, and under the name pip uses: the URL's last segment,
    which must therefore be the listed ``filename``.
    """
    if not isinstance(data, dict):
        raise UpstreamError(f"index page for {name}: expected a JSON object")
    meta = data.get("meta")
    api_version = meta.get("api-version") if isinstance(meta, dict) else None
    if not isinstance(api_version, str) or not api_version.startswith("1."):
        raise UpstreamError(
            f"index page for {name}: unsupported or missing meta.api-version {api_version!r}"
        )
    page_name = data.get("name")
    if not isinstance(page_name, str) or canonicalize_name(page_name) != name:
        raise UpstreamError(
            f"index page for {name}: the page is for project {page_name!r}, not {name!r}"
        )
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise UpstreamError(f"index page for {name}: 'files' must be a list")
    spec = pin_specifier(pin)

    def concerns(found: IndexFile | None) -> bool:
        return found is not None and (found.version is None or installs(spec, found.version))

    files: list[ReleaseFile] = []
    unparsed: list[str] = []
    matched_unparsed = False
    versions: set[str] = set()
    seen: set[str] = set()
    history: list[ReleaseFile] = []
    seen_history: set[str] = set()
    for index, entry in enumerate(raw_files):
        where = f"files[{index}]"
        if not isinstance(entry, dict):
            raise UpstreamError(f"index page for {name}: {where} must be an object")
        filename = entry.get("filename")
        if not isinstance(filename, str):
            raise UpstreamError(f"index page for {name}: {where}.filename must be a string")
        found = read_index_filename(filename, name)
        if found is not None and found.version is not None and found.pip_installs:
            versions.add(str(found.version))
        url = entry.get("url")
        joined = _joined(page_url, url)
        url_name = None if joined is None else _url_filename_of(joined[1])
        if (
            url_name is not None
            and url_name != filename
            and (concerns(found) or concerns(read_index_filename(url_name, name)))
        ):
            check_filename(filename, where=f"{where}.filename")
            raise UpstreamError(
                f"index page for {name}: {where}.url names the file {url_name!r}, "
                f"but {where}.filename is {filename!r}",
                hint="pip installs the file the URL names; the index must list each file "
                "under its own name",
            )
        if found is None or not concerns(found):
            if (
                found is not None
                and found.version is not None
                and found.problem is None
                and is_plain_filename(filename)
            ):
                other = _history_file(entry, filename, str(found.version), page_url, name, where)
                if other.filename not in seen_history:
                    seen_history.add(other.filename)
                    history.append(other)
            continue
        check_filename(filename, where=f"{where}.filename")
        if filename in seen:
            raise UpstreamError(f"index page for {name}: {filename} is listed twice")
        seen.add(filename)
        if found.problem is not None:
            unparsed.append(filename)
            matched_unparsed = matched_unparsed or found.version is not None
            continue
        if not isinstance(url, str):
            raise UpstreamError(f"index page for {name}: {where}.url must be a string")
        invalid = f"index page for {name}: {where}.url is not a valid URL"
        if joined is None:  # urljoin or urlsplit refused it
            raise UpstreamError(invalid)
        absolute, parts = joined
        try:
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            raise UpstreamError(invalid) from None
        try:
            check_url(absolute)
        except RefusedURL as exc:
            raise UpstreamError(f"index page for {name}: {where}.url: {exc}") from None
        hashes = entry.get("hashes")
        if not isinstance(hashes, dict):
            raise UpstreamError(f"index page for {name}: {where}.hashes must be an object")
        sha256 = hashes.get("sha256")
        if sha256 is not None:
            check_sha256(sha256, where=f"index page for {name}: {where}.hashes.sha256")
        size = entry.get("size")
        declared = "provenance" in entry
        provenance = entry.get("provenance")
        if provenance is not None:
            if not isinstance(provenance, str):
                raise UpstreamError(
                    f"index page for {name}: {where}.provenance must be a URL string or null"
                )
            # Checked (scheme, host) only when fetched: a hostile URL makes this file's
            # provenance unreachable, not the whole page unreadable.
            with contextlib.suppress(ValueError):
                provenance = urljoin(page_url, provenance)
        upload_time = entry.get("upload-time")
        files.append(
            ReleaseFile(
                filename=filename,
                url=absolute.split("#", 1)[0],
                sha256=sha256,
                size=size if isinstance(size, int) and size >= 0 else None,
                yanked=bool(entry.get("yanked", False)),
                version=str(found.version),
                provenance=provenance,
                provenance_declared=declared,
                upload_time=upload_time if isinstance(upload_time, str) else None,
            )
        )
    spellings = {f.version for f in files if f.version is not None}
    if len(spellings) == 1:
        version = spellings.pop()
    elif isinstance(pin, Version):
        version = str(pin)
    else:
        version = ",".join(sorted(s.version for s in pin))
    return SimplePage(
        files=tuple(files),
        unparsed=tuple(unparsed),
        versions=frozenset(versions),
        version=version,
        matched_unparsed=matched_unparsed,
        history=tuple(history),
    )


def _history_file(
    entry: Mapping[str, Any],
    filename: str,
    version: str,
    page_url: str,
    name: NormalizedName,
    where: str,
) -> ReleaseFile:
    """Another release's file, kept as the baseline the pinned release is held to.

    Only what the history check reads is kept. A ``provenance`` that is neither a string nor
    null is refused as for the pinned files (it would decide whether the baseline was attested);
    a malformed URL, digest or ``upload-time`` leaves that field unusable, never the page
    unreadable, so an odd old file cannot make every release of a project unverifiable.
    """
    provenance = entry.get("provenance")
    if provenance is not None and not isinstance(provenance, str):
        raise UpstreamError(
            f"index page for {name}: {where}.provenance must be a URL string or null"
        )
    if isinstance(provenance, str):
        with contextlib.suppress(ValueError):
            provenance = urljoin(page_url, provenance)
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    url = entry.get("url")
    upload_time = entry.get("upload-time")
    return ReleaseFile(
        filename=filename,
        url=url if isinstance(url, str) else "",
        sha256=sha256 if isinstance(sha256, str) and is_sha256(sha256) else None,
        yanked=bool(entry.get("yanked", False)),
        version=version,
        provenance=provenance,
        provenance_declared="provenance" in entry,
        upload_time=upload_time if isinstance(upload_time, str) else None,
    )


def _joined(page_url: str, url: object) -> tuple[str, SplitResult] | None:
    """``url`` resolved against the page and split, or None (not a string, or unparseable).

    Made once per listed file: its name, its URL and its port are all read from this one
    result (``urljoin`` is most of what reading a cached page costs).
    """
    if not isinstance(url, str):
        return None
    try:
        absolute = urljoin(page_url, url)
        return absolute, urlsplit(absolute)
    except ValueError:
        return None


def _url_filename_of(parts: SplitResult) -> str | None:
    """The file name pip takes from a file's (split) URL, or None, computed exactly as pip does.

    pip's ``Link.filename`` decodes the path, takes its last segment, and decodes that again:
    ``evil%2Fpkg-1.0+x-py3-none-any.whl`` names ``pkg-1.0+x-py3-none-any.whl`` for pip. Decoding
    once would read another name, and a file pip installs would go unseen.
    """
    path = unquote(parts.path)
    return unquote(posixpath.basename(path.rstrip("/"))) or None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of a URL, for "is this the index's own host"."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(parts.scheme)


def _spelt(version: Version | SpecifierSet) -> str:
    """A pin's version as the user typed it: ``1.0`` for ``==1.0``, ``===1.0`` kept whole."""
    if isinstance(version, SpecifierSet):
        specs = list(version)
        if len(specs) == 1 and specs[0].operator == "==":
            return specs[0].version
    return str(version)


def _version_key(value: str) -> Version:
    return Version(value)


def parse_pin(text: str) -> tuple[NormalizedName, Version]:
    """``NAME==VERSION`` -> (normalised name, version); anything else is a ``UsageError``."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(
            f"{text!r} is not a requirement: {exc}",
            hint="name one exact release, e.g. 'verify-release sampleproject==4.0.0'",
        ) from None
    specs = list(requirement.specifier)
    if requirement.url or len(specs) != 1 or specs[0].operator not in ("==", "==="):
        raise UsageError(
            f"{text!r} is not an exact pin: verify-release checks one release at a time",
            hint=f"type it as {requirement.name}==VERSION (the exact version you will install)",
        )
    spec = specs[0]
    if "*" in spec.version:
        raise UsageError(
            f"{text!r} is a wildcard, not an exact pin",
            hint=f"type it as {requirement.name}==VERSION",
        )
    try:
        version = Version(spec.version)
    except InvalidVersion:
        raise UsageError(
            f"{text!r}: {spec.version!r} is not a valid version",
            hint=f"type it as {requirement.name}==VERSION",
        ) from None
    if requirement.extras or requirement.marker:
        raise UsageError(
            f"{text!r}: extras and markers do not apply to a release check",
            hint=f"type it as {requirement.name}=={version}",
        )
    return canonicalize_name(requirement.name), version


def parse_pin_specifier(text: str) -> tuple[NormalizedName, SpecifierSet]:
    """``parse_pin``, keeping the operator for ``IndexClient.release``.

    ``NAME===1.0`` must take only the files pip takes for it (those spelt ``1.0``, not
    ``1.0.0`` or ``1.0+cpu``); ``parse_pin``'s ``Version`` reads as ``==`` and takes more.
    """
    from packaging.requirements import Requirement

    name, _ = parse_pin(text)
    [spec] = Requirement(text).specifier
    return name, SpecifierSet(str(spec))
