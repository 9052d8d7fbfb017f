"""Choosing the Sigstore trust root, and knowing which one was chosen.

sigstore-python in offline mode reads whatever ``trusted_root.json`` sits in the user's cache
directory, unchecked and regardless of expiry. This module never lets it: offline (or when the
TUF refresh cannot reach the network) it loads the root *shipped inside* the sigstore package,
and online it takes the root that TUF has just verified. Either way the report says which root
was used and when its TUF root metadata expires.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from verifier.errors import UsageError
from verifier.models import TrustRootInfo

if TYPE_CHECKING:
    from sigstore.verify import Verifier

_logger = logging.getLogger(__name__)

PRODUCTION_TUF_URL = "https://tuf-repo-cdn.sigstore.dev"
STAGING_TUF_URL = "https://tuf-repo-cdn.sigstage.dev"


@dataclass(frozen=True)
class TrustRoot:
    """A loaded trust root: the verifier built from it (once per run) and what it is."""

    verifier: Verifier
    info: TrustRootInfo
    digest: str | None = None
    """The sha256 of the bytes the root was parsed from, when known (the verdict cache's key)."""

    def load(self) -> None:
        """Build a deferred verifier now: a root that cannot be used raises its ``UsageError``."""
        try:
            build_now(self.verifier)
        except TrustRootUnusable as exc:
            raise exc.error from None

    @property
    def loaded(self) -> bool:
        """Whether the verifier was built in this process (always, unless deferred)."""
        return not isinstance(self.verifier, DeferredVerifier) or self.verifier.loaded


class TrustRootUnusable(BaseException):
    """A deferred trust root turned out unusable at its first use.

    A ``BaseException`` on purpose: the checks catch ``Exception`` around sigstore calls and
    would turn it into "signature verification failed" (a verdict, and a cached one). This
    passes through them and the thread pools; ``verifier.run`` raises ``error`` (exit 3).
    """

    def __init__(self, error: UsageError) -> None:
        super().__init__(error.message)
        self.error = error


def build_now(verifier: Verifier) -> None:
    """Build ``verifier`` if it is deferred, outside any check (see ``TrustRootUnusable``)."""
    if isinstance(verifier, DeferredVerifier):
        verifier.get()


class DeferredVerifier:
    """A sigstore ``Verifier`` built on first use, so a run that verifies nothing imports nothing.

    Importing sigstore and parsing a trust root cost more than a warm lockfile run's whole
    network work; when every verdict comes from ``verifier.verdicts`` nothing is verified and
    the verifier is never built. Every attribute is the real verifier's (built under a lock, once
    per process: a forked worker builds its own from the same bytes).
    """

    def __init__(self, build: Callable[[], Verifier]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._verifier: Verifier | None = None

    @property
    def loaded(self) -> bool:
        """Whether this process built the verifier already."""
        return self._verifier is not None

    def get(self) -> Verifier:
        """The real verifier, built now if it was not yet (``TrustRootUnusable`` for a bad root)."""
        with self._lock:
            if self._verifier is None:
                try:
                    self._verifier = self._build()
                except UsageError as exc:
                    raise TrustRootUnusable(exc) from None
            return self._verifier

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its recipe, never as what it built.

        A worker forked before the run knew its trust root receives it this way
        (``verifier.workers.EarlyWorker``), and builds it from the same bytes.
        """
        return (DeferredVerifier, (self._build,))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe these: never build for them
            raise AttributeError(name)
        return getattr(self.get(), name)


def _embedded(url: str, name: str) -> Path:
    """Path of a file shipped inside the sigstore package for the TUF repository ``url``."""
    resource = resources.files("sigstore._store").joinpath(quote(url, safe="")).joinpath(name)
    return Path(str(resource))


def _sigstore_version() -> str:
    from sigstore import __version__

    return __version__


def _root_expiry(root_json: Path) -> datetime | None:
    """``signed.expires`` of a TUF root.json, or None when it cannot be read."""
    try:
        signed = json.loads(root_json.read_text("utf-8"))["signed"]
        return datetime.strptime(signed["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _info(
    *,
    source: str,
    description: str,
    path: Path | None,
    expiry: datetime | None,
    now: datetime,
    warnings: list[str],
) -> TrustRootInfo:
    expired = expiry is not None and expiry < now
    if expired and expiry is not None:
        warnings.append(
            f"the trust root's TUF metadata expired on {expiry:%Y-%m-%d}; signatures were still "
            "checked against its keys, but refresh it (run online, or upgrade sigstore) to pick "
            "up key rotations and revocations"
        )
    return TrustRootInfo(
        source=source,
        description=description,
        path=str(path) if path else None,
        expires=expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else None,
        expired=expired,
        warnings=tuple(warnings),
    )


def load_embedded(
    *, staging: bool = False, now: datetime | None = None, reason: str | None = None
) -> TrustRoot:
    """The production (or staging) root shipped in the installed sigstore package."""
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    url = STAGING_TUF_URL if staging else PRODUCTION_TUF_URL
    path = _embedded(url, "trusted_root.json")
    root = TrustedRoot.from_file(str(path))
    instance = "staging" if staging else "production"
    description = f"Sigstore {instance} root embedded in sigstore {_sigstore_version()}"
    warnings = [reason] if reason else []
    info = _info(
        source="embedded",
        description=description,
        path=path,
        expiry=_root_expiry(_embedded(url, "root.json")),
        now=now or datetime.now(timezone.utc),
        warnings=warnings,
    )
    return TrustRoot(verifier=Verifier(trusted_root=root), info=info)


def load_custom(path: Path) -> TrustRoot:
    """A trust root file for a private Sigstore deployment (``--trusted-root``).

    The file is read (and its digest taken) now; it is parsed, and sigstore imported, only when
    something is verified (``DeferredVerifier``), from these same bytes. A file that cannot be
    read is a usage error at once; one that is not a usable root, at the first verification
    (``TrustRoot.load`` makes it immediate where a caller needs that).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--trusted-root {path}: cannot read: {exc.strerror}") from None

    info = TrustRootInfo(
        source="custom",
        description=f"custom trust root from {path}",
        path=str(path),
        expires=None,
        expired=False,
    )
    deferred = cast("Verifier", DeferredVerifier(functools.partial(_parse_custom, path, raw)))
    return TrustRoot(verifier=deferred, info=info, digest=hashlib.sha256(raw).hexdigest())


def _parse_custom(path: Path, raw: bytes) -> Verifier:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier
    from sigstore_models.trustroot import v1 as trustroot_v1

    try:
        return Verifier(trusted_root=TrustedRoot(trustroot_v1.TrustedRoot.from_json(raw)))
    except Exception as exc:  # sigstore/pydantic raise many types for a malformed root
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--trusted-root {path}: not a usable Sigstore trusted root: {first}",
            hint="pass a trusted_root.json (media type "
            "application/vnd.dev.sigstore.trustedroot+json;version=0.1)",
        ) from None


def load_production(*, offline: bool, now: datetime | None = None) -> TrustRoot:
    """Sigstore's production root: refreshed over TUF, or the embedded one when offline.

    The user's sigstore cache is never read without a TUF refresh: an offline run and a failed
    refresh both fall back to the embedded root, and the report says so.
    """
    if offline:
        return load_embedded(now=now, reason=None)
    from sigstore.errors import TUFError
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    try:
        config = ClientTrustConfig.production(offline=False)
    except TUFError as exc:
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause else ""
        return load_embedded(
            now=now,
            reason=f"could not refresh the trust root over TUF{detail}; used the root embedded "
            f"in sigstore {_sigstore_version()} instead",
        )
    path, expiry = _tuf_metadata()
    info = _info(
        source="tuf",
        description="Sigstore production root, refreshed and verified over TUF "
        f"({PRODUCTION_TUF_URL})",
        path=path,
        expiry=expiry,
        now=now or datetime.now(timezone.utc),
        warnings=[],
    )
    return TrustRoot(verifier=Verifier(trusted_root=config.trusted_root), info=info)


def _tuf_metadata() -> tuple[Path | None, datetime | None]:
    """Where TUF keeps the refreshed root metadata, and its expiry (best effort)."""
    try:
        from sigstore._internal.tuf import _get_dirs

        metadata_dir, _ = _get_dirs(PRODUCTION_TUF_URL)
    except (ImportError, AttributeError):  # private API moved: report what we can
        return None, None
    root_json = metadata_dir / "root.json"
    return root_json, _root_expiry(root_json)


class StagingDetector:
    """Tells whether evidence that failed against production verifies against *staging*.

    Staging signatures are real signatures by test infrastructure; accepting them would let
    anyone with a staging identity pass. Saying "staging" in the failure saves a user hours.
    """

    def __init__(self) -> None:
        self._root: TrustRoot | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as a new detector: a worker builds the staging root itself, when it must."""
        return (StagingDetector, ())

    @property
    def verifier(self) -> Verifier:
        """The staging verifier, built on first use only."""
        if self._root is None:
            self._root = load_embedded(staging=True)
        return self._root.verifier


def describe_root(custom: Path | None) -> list[str]:
    """Lines for ``verify-release -V``: library versions and the trust root in use, offline.

    The sha256 lets a user compare the root with the one their organisation distributes; it is
    of the file as it is on disk (a custom root that cannot be read says so instead).
    """
    from importlib.metadata import PackageNotFoundError, version

    lines = []
    for name in ("sigstore", "pypi-attestations"):
        try:
            lines.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            lines.append(f"{name} (not installed)")
    if custom is not None:
        try:
            digest = hashlib.sha256(custom.read_bytes()).hexdigest()
        except OSError as exc:
            return [*lines, f"trust root: custom {custom} (cannot read: {exc.strerror})"]
        return [*lines, f"trust root: custom {custom} sha256:{digest}"]
    embedded = _embedded(PRODUCTION_TUF_URL, "trusted_root.json")
    try:
        digest = "sha256:" + hashlib.sha256(embedded.read_bytes()).hexdigest()
    except OSError:
        digest = "(embedded copy missing)"
    return [
        *lines,
        f"trust root: production, refreshed over TUF from {PRODUCTION_TUF_URL}; offline: the "
        f"copy embedded in sigstore {_sigstore_version()} {digest}",
    ]
