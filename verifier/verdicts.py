"""Earlier attestation verdicts, reused by a warm run only when every input is identical.

Why this exists: a second run over an unchanged lockfile used to verify its 400 attestations
again (about a millisecond of CPU each, plus parsing), although nothing it depends on had
changed. The verification of one provenance object is a pure function of a short list of
inputs, so its result can be kept, exactly as a compiler keeps an object file:

- the provenance bytes (their sha256), the file name and its sha256;
- the expected publisher (every field, its source included) and whether the index's publisher
  record may be used (``record_trusted``);
- the trust root (a digest of the root the ``Verifier`` holds) and whether the staging detector
  is on;
- the policy the judge will read for this package (a stable digest of every field);
- the versions of verify-release, sigstore and pypi-attestations.

All of them go into the entry's key; anything else is a miss and is verified again. The judge
still runs on every result, cached or not: only the check's typed result is kept, never an
outcome.

The cache directory is hostile input like the rest of the cache (a CI cache restored from
another job, a directory others can write). An entry is one file holding the result and an
HMAC over the key and the result, keyed by the secret that already authenticates the response
cache (``verifier.store.cache_key``, kept in the user's data directory). It is read in one
``read`` (no window between checking and using), and an entry that is truncated, edited,
copied under another key, not a regular file, too large or not parseable as exactly the
fields written is a miss: verified again, never passed. Only results a verification reached
(PROVEN or CONTRADICTED) are kept; a file that could not be verified (a worker process died)
is never remembered.

Clearing it: delete ``verdicts/`` under the cache directory (``--cache-dir``, by default the
user cache directory), or the whole cache directory; ``--no-cache`` neither reads nor writes it.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import hashlib
import hmac
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.errors import FileNotWritten
from verifier.models import (
    CertificateEvidence,
    Check,
    CheckResult,
    EvidenceKind,
    Gap,
    PublisherRecord,
    Status,
)
from verifier.store import EntryFiles, UnreadableEntry, _open_regular, shard_folder

if TYPE_CHECKING:
    from sigstore.verify import Verifier

    from verifier.policy import ExpectedPublisher, Policy
    from verifier.trust import TrustRoot
    from verifier.writer import BackgroundWrites

MAX_ENTRY_BYTES = 256 * 1024
"""One entry is a few kilobytes (a result and its certificates); anything larger is not ours."""
FORMAT = 1
"""Bumped whenever what an entry holds changes meaning: older entries then simply miss."""
_CACHED = (Status.PROVEN, Status.CONTRADICTED)
_CERT_FIELDS = tuple(f.name for f in dataclasses.fields(CertificateEvidence))


_JUDGING = (
    "sigstore",
    "pypi-attestations",
    "sigstore-models",
    "sigstore-rekor-types",
    "cryptography",
    "rfc8785",
    "pydantic",
    "pydantic-core",
)
"""The libraries whose code reaches a verdict: a new version of any may judge anew (rekor_types
binds a log entry to its envelope; pydantic parses the hostile provenance)."""

_MODULES = {"sigstore-rekor-types": "rekor_types"}
"""Distribution names whose package is not the name with ``-`` as ``_``."""


def versions() -> str:
    """The code that verifies: the libraries' versions and a digest of verify-release's source.

    The version number alone is not enough: a fix to an identity check ships as new code under
    the same version (an Action moved to another commit, a checkout between releases), and a
    verdict the buggy code reached must not be reused by the fixed one.
    """
    from verifier import __version__

    parts = [f"verify-release={__version__}", f"source={_source_digest()}"]
    for name in _JUDGING:
        spec = _spec(name)  # found once: it names both the version and the code's location
        origin = str(spec.origin) if spec is not None and spec.origin else "?"
        parts.append(f"{name}={_version(name, spec)}@{origin}")
    return ";".join(parts)


def _spec(name: str) -> Any:
    """Where ``import`` would load distribution ``name``'s package from: found, not imported."""
    import importlib.machinery
    import sys

    try:
        module = _MODULES.get(name, name.replace("-", "_"))
        return importlib.machinery.PathFinder.find_spec(module, sys.path)
    except (ImportError, ValueError):
        return None


def installed_version(name: str) -> str:
    """The version of distribution ``name`` whose code ``import`` loads, or "?".

    The metadata beside the package that would be imported (the same ``sys.path`` folder) is
    read first: a stale ``NAME-*.dist-info`` left earlier on the path must not name the
    version of code that is not the one imported. Otherwise, as ``importlib.metadata`` gives it
    (the key also holds the package's location: ``versions``).
    """
    return _version(name, _spec(name))


def _version(name: str, spec: Any) -> str:
    """``installed_version`` for the package ``spec`` found."""
    if spec is not None and spec.origin:
        origin = Path(spec.origin)
        folder = origin.parent.parent if spec.submodule_search_locations else origin.parent
        beside = _version_in(str(folder), _normalised(name))
        if beside is not None:
            return beside
    found = _installed_version(name)
    if found is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version(name)
        except PackageNotFoundError:
            found = "?"
    return found


_HEADER = re.compile(r"[\041-\071\073-\176]+:")
"""A metadata header line as the ``email`` parser reads one (a name without ':', then ':')."""


def _installed_version(name: str) -> str | None:
    """``importlib.metadata.version(name)``, read without importing ``importlib.metadata``.

    Importing it (``email``, ``zipfile``, ``csv`` ...) cost a warm run more than looking up the
    five versions. This follows its search exactly for the plain case: the first ``sys.path``
    folder holding metadata for ``name`` (a ``*.dist-info`` or ``*.egg-info`` whose name part
    normalises to the same), its ``METADATA``, its first ``Version`` header. Anything else (a
    zip or an egg on the path, two candidates in one folder, another distribution finder, an
    egg-info, a header this reading would not take exactly as ``email`` does) answers None, and
    the caller asks ``importlib.metadata`` itself: a version is never guessed.
    """
    import importlib.machinery
    import sys

    finders = [f for f in sys.meta_path if getattr(f, "find_distributions", None) is not None]
    if finders != [importlib.machinery.PathFinder]:
        return None
    wanted = _normalised(name)
    for entry in sys.path:
        folder = entry or "."
        if folder.lower().endswith(".egg"):
            return None
        try:
            children = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isfile(folder):
                return None  # a zip file on the path: importlib.metadata reads inside it
            continue
        except OSError:
            return None
        found = _metadata_folders(children, wanted)
        if not found:
            continue
        if len(found) != 1 or not found[0].lower().endswith(".dist-info"):
            return None
        return _version_header(Path(folder) / found[0] / "METADATA")
    return None


def _metadata_folders(children: list[str], wanted: str) -> list[str]:
    """The ``*.dist-info`` and ``*.egg-info`` names among ``children`` that are ``wanted``'s."""
    return [
        child
        for child in children
        if child.lower().endswith((".dist-info", ".egg-info"))
        and _normalised(child.lower().rpartition(".")[0].partition("-")[0]) == wanted
    ]


def _version_in(folder: str, wanted: str) -> str | None:
    """The version in the one ``*.dist-info`` of ``wanted`` in ``folder``; None otherwise."""
    try:
        found = _metadata_folders(os.listdir(folder), wanted)
    except OSError:
        return None
    if len(found) != 1 or not found[0].lower().endswith(".dist-info"):
        return None
    return _version_header(Path(folder) / found[0] / "METADATA")


def _normalised(name: str) -> str:
    """A distribution name as ``importlib.metadata`` compares them (``Prepared.normalize``)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _version_header(path: Path) -> str | None:
    """The first ``Version`` header of a ``METADATA`` file; None when not read exactly so."""
    try:
        # Read as importlib.metadata reads it: UTF-8, universal newlines (only "\n" is left).
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    # Split only where the email parser does (``str.splitlines`` would also split at \x0c or
    # \u2028 inside a header's value, and could read a "Version:" that is not a header).
    lines = text.split("\n")
    if lines[0].startswith("From "):
        return None
    for number, line in enumerate(lines):
        if not _HEADER.match(line):
            return None  # the headers end (or turn odd) before a Version header
        header, _, value = line.partition(":")
        if header.lower() != "version":
            continue
        after = lines[number + 1] if number + 1 < len(lines) else ""
        if after[:1] in (" ", "\t"):
            return None  # folded onto the next line
        return value.lstrip(" \t")
    return None


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """The sha256 over every module of the ``verifier`` package (path and bytes, in order).

    Read once per process (about 60 files): the code running does not change under it.
    """
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def root_digest(verifier: Verifier) -> str | None:
    """The sha256 of the trust root this ``Verifier`` holds (None: unknown, so no caching).

    Taken from the parsed root in memory rather than from a file, so that it describes exactly
    what verified. It reads sigstore's private attributes; if they move, the cache is off.
    """
    try:
        text = verifier._trusted_root._inner.to_json()
    except AttributeError:
        return None
    if not isinstance(text, str):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def canonical(value: Any) -> Any:
    """A JSON-ready form of a policy or publisher with one spelling per value.

    Sets are sorted and mappings listed by key, so the digest does not depend on hash
    randomisation; an unknown type raises ``TypeError`` (the caller then does not cache).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "@": type(value).__name__,
            **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, Mapping):
        pairs = [[canonical(k), canonical(v)] for k, v in value.items()]
        return sorted(pairs, key=repr)
    if isinstance(value, (frozenset, set)):
        return sorted((canonical(v) for v in value), key=repr)
    if isinstance(value, (tuple, list)):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def _digest(value: Any) -> str:
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class VerdictCache:
    """A directory of earlier provenance verdicts, authenticated with the cache's key.

    ``context`` is everything shared by the run: the trust root digest, the staging detector,
    the versions. ``verified`` and ``reused`` count, for the log and the tests.
    """

    def __init__(self, root: Path, *, mac_key: bytes, context: str) -> None:
        self.root = root
        self._mac_key = mac_key
        self._context = context
        self._lock = threading.Lock()
        self._files = EntryFiles(root, ".verdict")
        self.writes: BackgroundWrites | None = None
        """When set, entries are written by a background writer process (``verifier.writer``)."""
        self._digests: dict[int, tuple[object, str]] = {}
        self.verified = 0
        self.reused = 0

    @classmethod
    def for_run(
        cls, root: Path, *, mac_key: bytes, trust: TrustRoot, staging: bool
    ) -> VerdictCache | None:
        """The cache for a run with this trust root; None when the root has no digest.

        A root read from a file has the digest of its bytes; one built otherwise (TUF) the
        digest of the root its verifier holds.
        """
        digest = trust.digest
        if digest is None and trust.loaded:
            digest = root_digest(trust.verifier)
        if digest is None:
            return None
        context = f"format={FORMAT};trust={digest};staging={staging};{versions()}"
        return cls(root, mac_key=mac_key, context=context)

    def key(
        self,
        raw: bytes,
        *,
        filename: str,
        digest: str,
        expected: ExpectedPublisher | None,
        record_trusted: bool,
        policy: Policy,
    ) -> str | None:
        """The entry key for one verification, or None when an input has no stable form."""
        try:
            inputs = {
                "context": self._context,
                "provenance": hashlib.sha256(raw).hexdigest(),
                "filename": filename,
                "digest": digest,
                "expected": self._digest_of(expected),
                "record_trusted": record_trusted,
                "policy": self._digest_of(policy),
            }
        except TypeError:
            return None
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def _digest_of(self, value: object) -> str:
        """``_digest(value)``, computed once per object for the run.

        Every file of a package is keyed with the same policy and publisher objects, and
        their canonical JSON cost more than the rest of a warm lookup. Memoised by identity
        only, never by equality (``1 == True`` but their digests differ), with the object
        held so that its ``id`` cannot be reused by another; both are frozen dataclasses (their
        mappings typed read-only), never changed once built.
        """
        found = self._digests.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        digest = _digest(value)
        self._digests[id(value)] = (value, digest)
        return digest

    def _path(self, key: str) -> Path:
        return self._files.path(key)

    def _mac(self, key: str, text: bytes) -> bytes:
        message = key.encode("ascii") + b"\n" + text
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest().encode("ascii")

    def get(self, key: str) -> CheckResult | None:
        """The stored result for ``key``; None when absent or unusable in any way (a miss).

        The MAC is checked over the stored bytes before anything in them is parsed.
        """
        try:
            # Checked at every read, unlike the response store's: a verdict is never read
            # through a symlinked folder, even one that was a real folder a moment ago.
            shard_folder(self.root / key[:2], create=False)
            with _open_regular(self._path(key), "verdict") as handle:
                raw = handle.read(MAX_ENTRY_BYTES + 1)
        except (UnreadableEntry, OSError):
            return None
        if len(raw) > MAX_ENTRY_BYTES:
            return None
        mac, newline, text = raw.partition(b"\n")
        if not newline or not hmac.compare_digest(mac, self._mac(key, text)):
            return None
        try:
            loaded = _result_from(json.loads(text.decode("utf-8")))
        except (ValueError, RecursionError, KeyError, TypeError):
            return None
        with self._lock:
            self.reused += 1
        return loaded

    def put(self, key: str, result: CheckResult) -> None:
        """Keep ``result`` when a verification reached it; a write that fails is only slower.

        An entry is the hex HMAC of (key, result), a line feed, then the result as JSON.
        """
        with self._lock:
            self.verified += 1
        if result.status not in _CACHED or result.tag is not None:
            return
        text = json.dumps(_result_to(result), sort_keys=True).encode()
        data = self._mac(key, text) + b"\n" + text  # authenticated on every read
        if self.writes is not None and self.writes.submit(self._files, key, data):
            return
        try:
            self._files.write(key, lambda: (data,))
        except (OSError, FileNotWritten):
            return


def _result_to(result: CheckResult) -> dict[str, Any]:
    kind = result.kind
    return {
        "check": result.check.value,
        "status": result.status.value,
        "subject": result.subject,
        "message": result.message,
        "kind": None if kind is None else [type(kind).__name__, kind.value],
        "expected": result.expected,
        "actual": result.actual,
        "certificate": None if result.certificate is None else _cert_to(result.certificate),
        "certificates": [_cert_to(c) for c in result.certificates],
        "publisher": None
        if result.publisher is None
        else {"kind": result.publisher.kind, "fields": dict(result.publisher.fields)},
        "details": dict(result.details),
        "location": result.location,
        "hint": result.hint,
        "rule": result.rule,
    }


def _cert_to(cert: CertificateEvidence) -> dict[str, str | None]:
    return {name: getattr(cert, name) for name in _CERT_FIELDS}


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _text(value)


def _strings(value: Any) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return {_text(k): _optional(v) for k, v in value.items()}


def _cert_from(value: Any) -> CertificateEvidence:
    fields = _strings(value)
    if set(fields) != set(_CERT_FIELDS):
        raise TypeError("not a certificate")
    return CertificateEvidence(**fields)


def _result_from(data: Any) -> CheckResult:
    """Exactly the fields ``_result_to`` writes, each of its type (else ``TypeError``)."""
    if not isinstance(data, dict) or set(data) != set(_result_to_fields):
        raise TypeError("not a result")
    kind: EvidenceKind | Gap | None = None
    if data["kind"] is not None:
        family, value = data["kind"]
        kinds: dict[str, type[EvidenceKind] | type[Gap]] = {
            "EvidenceKind": EvidenceKind,
            "Gap": Gap,
        }
        kind = kinds[_text(family)](_text(value))
    status = Status(_text(data["status"]))
    if status not in _CACHED:
        raise TypeError("a status that is never cached")
    publisher = None
    if data["publisher"] is not None:
        record = data["publisher"]
        if not isinstance(record, dict) or set(record) != {"kind", "fields"}:
            raise TypeError("not a publisher record")
        publisher = PublisherRecord(
            kind=_optional(record["kind"]), fields=_strings(record["fields"])
        )
    certificates = data["certificates"]
    if not isinstance(certificates, list):
        raise TypeError("not a list")
    return CheckResult(
        check=Check(_text(data["check"])),
        status=status,
        subject=_text(data["subject"]),
        message=_text(data["message"]),
        kind=kind,
        expected=_optional(data["expected"]),
        actual=_optional(data["actual"]),
        certificate=None if data["certificate"] is None else _cert_from(data["certificate"]),
        certificates=tuple(_cert_from(c) for c in certificates),
        publisher=publisher,
        details=_strings(data["details"]),
        location=_optional(data["location"]),
        hint=_optional(data["hint"]),
        rule=_optional(data["rule"]),
    )


_result_to_fields = (
    "check",
    "status",
    "subject",
    "message",
    "kind",
    "expected",
    "actual",
    "certificate",
    "certificates",
    "publisher",
    "details",
    "location",
    "hint",
    "rule",
)
