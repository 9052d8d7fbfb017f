"""Index hashes: download every file of the release and recompute its sha256.

The index's digest is what installers trust (pip's ``--require-hashes``, lockfiles), so the bytes
it serves must match it; the attestation check then ties that digest to a signed build.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from verifier.errors import NetworkError, RefusedURL, UpstreamError, UsageError
from verifier.http import DEFAULT_MAX_FILE_BYTES, HttpClient
from verifier.models import Check, CheckResult, Gap, ReleaseFile, Status
from verifier.pypi import check_filename

_SIZE_SLACK = 1024


class FileCache:
    """Downloaded distributions, stored under their expected digest.

    Files are immutable by digest, so a cached file is reused, but its hash is recomputed every
    time: the cache is never trusted, only used to save bandwidth.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, file: ReleaseFile) -> Path:
        """Where ``file`` lives in the cache; the name was validated as a plain file name."""
        check_filename(file.filename, where="file name")
        return self.root / "files" / (file.sha256 or "unknown") / file.filename


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(http: HttpClient, cache: FileCache, file: ReleaseFile) -> CheckResult:
    """Download ``file`` (or reuse the cache) and compare its sha256 with the index's."""
    if file.sha256 is None:
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.ABSENT,
            kind=Gap.INDEX_DIGEST,
            subject=file.filename,
            message="the index publishes no sha256 for this file",
        )
    path = cache.path_for(file)
    cached = path.exists()
    if cached:
        actual = sha256_file(path)
        if actual != file.sha256:
            path.unlink()
            cached = False
    if not cached:
        cap = file.size + _SIZE_SLACK if file.size is not None else DEFAULT_MAX_FILE_BYTES
        try:
            actual = http.download(
                file.url, path, what=f"download of {file.filename}", max_bytes=cap
            )
        except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
            return CheckResult(
                check=Check.INDEX_HASH,
                status=Status.UNREACHABLE,
                subject=file.filename,
                message=str(exc),
                hint=exc.hint,
            )
    if actual != file.sha256:
        path.unlink(missing_ok=True)
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.CONTRADICTED,
            subject=file.filename,
            message="the downloaded file does not match the digest the index publishes",
            expected=f"sha256:{file.sha256}",
            actual=f"sha256:{actual}",
        )
    return CheckResult(
        check=Check.INDEX_HASH,
        status=Status.PROVEN,
        subject=file.filename,
        message="sha256 matches the index" + (" (cached copy re-hashed)" if cached else ""),
        expected=f"sha256:{file.sha256}",
        actual=f"sha256:{actual}",
        details={"path": str(path)},
    )


def check_local(path: Path, file: ReleaseFile | None, actual: str) -> CheckResult:
    """A local distribution (sha256 ``actual``) against the index's digest for its name."""
    if file is None or file.sha256 is None:
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.ABSENT,
            kind=Gap.INDEX_DIGEST,
            subject=path.name,
            message="the index lists no digest for a file of this name",
            actual=f"sha256:{actual}",
        )
    if actual != file.sha256:
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.CONTRADICTED,
            subject=path.name,
            message="the local file does not match the digest the index publishes",
            expected=f"sha256:{file.sha256}",
            actual=f"sha256:{actual}",
        )
    return CheckResult(
        check=Check.INDEX_HASH,
        status=Status.PROVEN,
        subject=path.name,
        message="sha256 of the local file matches the index",
        expected=f"sha256:{file.sha256}",
        actual=f"sha256:{actual}",
    )
