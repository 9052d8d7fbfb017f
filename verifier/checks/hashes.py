"""Index hashes: the digest the index publishes, and (when asked) the bytes it serves.

The index's digest is what installers trust (pip's ``--require-hashes``, lockfiles) and enforce,
and the attestation check ties that digest to a signed build: verification needs the digest, not
the bytes. ``--download DIR`` fetches the files too, re-hashes them and keeps those that match.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from verifier.dists import check_filename
from verifier.errors import NetworkError, RefusedURL, UpstreamError, UsageError
from verifier.http import DEFAULT_MAX_FILE_BYTES, HttpClient
from verifier.models import Check, CheckResult, Gap, ReleaseFile, Status
from verifier.store import regular_file_sha256
from verifier.store import sha256_file as sha256_file  # re-exported: callers import it here

_SIZE_SLACK = 1024


class FileCache:
    """The directory where fetched evidence is kept between runs (release assets, tag clones).

    Nothing read back from it is trusted: bundles are verified again, digests recomputed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root


def published_digest(file: ReleaseFile) -> CheckResult:
    """What the index publishes for ``file``, without downloading it.

    ``expected`` carries the digest so the cross-links can prove index sha256 == attested
    subject == bundle subject; the message says that no byte was compared.
    """
    if file.sha256 is None:
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.ABSENT,
            kind=Gap.INDEX_DIGEST,
            subject=file.filename,
            message="the index publishes no sha256 for this file",
        )
    return CheckResult(
        check=Check.INDEX_HASH,
        status=Status.PROVEN,
        subject=file.filename,
        message=f"the index publishes sha256 {file.sha256} (file not downloaded: installers "
        "enforce the digest; --download DIR fetches and re-hashes)",
        expected=f"sha256:{file.sha256}",
    )


def download_into(
    http: HttpClient,
    directory: Path,
    file: ReleaseFile,
    progress: Callable[[str], None] = lambda _: None,
) -> CheckResult:
    """``--download DIR``: fetch ``file`` into ``directory``, keep it only if its sha256 matches.

    The bytes land in a hidden ``.NAME.partial`` file inside ``directory`` first (never an
    installable name) and are renamed into place once they match the index's digest, so ``DIR``
    only ever holds whole, verified files (a wheelhouse for ``pip install --no-index
    --find-links DIR``). A file already there is re-hashed, never trusted.
    """
    if file.sha256 is None:
        return published_digest(file)
    check_filename(file.filename, where="file name")
    dest = directory / file.filename
    # A symlink there could be re-pointed after the run: only a regular file of its own counts,
    # anything else is replaced by a verified copy.
    if regular_file_sha256(dest) == file.sha256:
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.PROVEN,
            subject=file.filename,
            message=f"sha256 matches the index (already in {directory}, re-hashed)",
            expected=f"sha256:{file.sha256}",
            actual=f"sha256:{file.sha256}",
            details={"path": str(dest)},
        )
    part = directory / f".{file.filename}.partial"
    cap = file.size + _SIZE_SLACK if file.size is not None else DEFAULT_MAX_FILE_BYTES
    size = f"{file.size:,} bytes" if file.size is not None else "size unknown"
    progress(f"{file.filename}: downloading ({size})")
    try:
        actual = http.download(file.url, part, what=f"download of {file.filename}", max_bytes=cap)
    except (NetworkError, UpstreamError, UsageError, RefusedURL) as exc:
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.UNREACHABLE,
            subject=file.filename,
            message=str(exc),
            hint=exc.hint,
        )
    except OSError as exc:
        # DIR is the user's and may hold anything (a directory at the .partial name, say).
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.UNREACHABLE,
            subject=file.filename,
            message=f"cannot write the download into {directory}: {exc.strerror or exc}",
        )
    got = part.stat().st_size if part.is_file() else 0
    progress(f"{file.filename}: {got:,} bytes downloaded")
    if actual != file.sha256:
        part.unlink(missing_ok=True)
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.CONTRADICTED,
            subject=file.filename,
            message="the downloaded file does not match the digest the index publishes "
            f"(not kept in {directory})",
            expected=f"sha256:{file.sha256}",
            actual=f"sha256:{actual}",
        )
    try:
        part.replace(dest)
    except OSError as exc:
        part.unlink(missing_ok=True)
        return CheckResult(
            check=Check.INDEX_HASH,
            status=Status.UNREACHABLE,
            subject=file.filename,
            message=f"cannot keep the verified file in {directory}: {exc.strerror}",
        )
    return CheckResult(
        check=Check.INDEX_HASH,
        status=Status.PROVEN,
        subject=file.filename,
        message=f"sha256 matches the index (downloaded, kept in {directory})",
        expected=f"sha256:{file.sha256}",
        actual=f"sha256:{actual}",
        details={"path": str(dest)},
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
