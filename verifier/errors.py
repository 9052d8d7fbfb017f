"""The project's error family.

Every error a user can meet carries a one-line message and, where one exists, a hint that says
what to do about it. Only ``cli.py`` turns them into exit codes; everything else raises.
"""

from __future__ import annotations

from pathlib import Path


class VerifierError(Exception):
    """Base of every error this project raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def diagnostics(self) -> str:
        """The message and its hint, for people."""
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


class UsageError(VerifierError):
    """The command line or an input file asks for something that cannot be done."""


class PolicyError(UsageError):
    """A policy (command line or file) is malformed or self-contradictory."""


class FileNotWritten(VerifierError):
    """A file the tool writes could not be written, and was left exactly as it was (exit 4).

    Raised by ``verifier.atomic`` only, for failures that are not the path's or the disk's
    fault; ``UnwritableFile`` is the usage-side one.
    """

    def __init__(self, message: str, *, path: Path, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class UnwritableFile(FileNotWritten, UsageError):
    """The target's folder is missing or read-only, the disk is full, a size limit hit (exit 3).

    The file was not changed: the user fixes the path or makes room and runs again.
    """


class RefusedURL(VerifierError):
    """A URL the tool will not fetch (not https, not loopback http, malformed).

    Not a usage error by itself: from a flag it is one (the CLI says so), but from an index
    page, a redirect or a GitHub answer it is the remote side's doing, and the check that met it
    reports its evidence as unreachable.
    """


class NetworkError(VerifierError):
    """A remote service could not be reached, or stopped answering in time."""


class UpstreamError(VerifierError):
    """A remote service answered, but not with something we can use."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NotFoundError(UpstreamError):
    """The remote service says the thing we asked for does not exist (HTTP 404/410)."""


class RateLimitedError(UpstreamError):
    """A service refuses for now because a request quota is spent (GitHub's rate limit).

    Its own type because the answer to it differs from a failing service: waiting would stall
    the run (GitHub's hourly window), so the caller stops asking that service for the rest of
    the run, and a token is what raises the quota. ``state`` is the quota as the service
    stated it ("0 of 60 requests remain; the limit resets at ..."), for later messages.
    """

    def __init__(
        self, message: str, *, state: str, hint: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, hint=hint, status=status)
        self.state = state


class TrustRootError(VerifierError):
    """No trustworthy Sigstore trust root could be loaded."""


def one_line(exc: BaseException, *, limit: int = 240) -> str:
    """An exception as one short line for a report: whitespace collapsed, long dumps cut.

    Library errors about hostile material can embed whole structures (sigstore prints an
    inclusion proof as Python bytes); the report needs the gist, not 2 KB of it.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
