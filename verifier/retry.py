"""When to ask again: the retry policy and the layer that applies it to a transport.

Kept apart from the transport so that the policy (which failures are worth another attempt, how
long to wait, what a spent rate limit means) is a small value that can be read in one place and
tested with an in-memory fake transport and an injected sleep, with no socket and no wall time.

- connection failures (``Unreachable``), 429, 5xx and GitHub's 403 with an exhausted quota are
  retried, up to ``max_retries`` times, with exponential backoff or the server's Retry-After
  (or ``X-RateLimit-Reset``) up to ``max_retry_after``; a longer wait is not waited for;
- timeouts are not retried: a stalled server would multiply the wait;
- with ``wait_on_rate_limit=False`` a spent quota raises ``RateLimitedError`` at once, so the
  caller can stop asking that service for the rest of the run;
- any other 4xx is final: 404/410 is ``NotFoundError``, the rest an ``UpstreamError``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from verifier.errors import NotFoundError, RateLimitedError, UpstreamError
from verifier.transport import Reply, Request, Sink, Transport, Unreachable, _host
from verifier.urls import redact_url

_logger = logging.getLogger("verifier.http")  # the name users' log filters already know

MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Which answers are retried and how long to wait before the next attempt."""

    max_retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = MAX_RETRY_AFTER
    clock: Callable[[], float] = field(default=time.time, compare=False)
    """Wall-clock time, for Retry-After dates and X-RateLimit-Reset (injectable for tests)."""

    def backoff_delay(self, attempt: int) -> float:
        """The exponential backoff before retry number ``attempt`` (1-based)."""
        return float(self.backoff * (2 ** (attempt - 1)))

    @staticmethod
    def retryable(status: int, headers: Mapping[str, str]) -> bool:
        """5xx, 429, and GitHub's 403 with an exhausted rate limit are worth waiting for."""
        return _rate_limited(status, headers)

    def delay(self, headers: Mapping[str, str], attempt: int) -> float | None:
        """The delay before retrying, or None when the server asks for more than we will wait."""
        value = headers.get("Retry-After")
        reset = headers.get("X-RateLimit-Reset")
        if value is None and headers.get("X-RateLimit-Remaining") == "0" and reset:
            if not reset.isdigit():
                return None
            value = str(max(0, int(reset) - int(self.clock())))
        if value is None:
            return self.backoff_delay(attempt)
        delay: float
        if value.strip().isdigit():
            delay = float(value.strip())
        else:
            import email.utils  # only for an HTTP-date; a warm run never gets here

            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return self.backoff_delay(attempt)
            delay = max(0.0, when.timestamp() - self.clock())
        if delay > self.max_retry_after:
            return None
        return delay


class Retrying:
    """A transport that applies a ``RetryPolicy`` to another, then says what the status means."""

    def __init__(
        self,
        inner: Transport,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Wrap ``inner``; ``sleep`` is injected so tests never wait."""
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """Fetch with retries; return a 200 (or an expected 304) or raise."""
        policy, what = self.policy, request.what
        attempt = 0
        while True:
            try:
                reply = self.inner.fetch(request, sink)
            except Unreachable as exc:
                if attempt >= policy.max_retries:
                    raise
                attempt += 1
                self._sleep(policy.backoff_delay(attempt))
                request = _resume(request, exc.url, exc.redirects)
                continue
            status, headers, current = reply.status, reply.headers, reply.url
            if not request.wait_on_rate_limit and _quota_spent(status, headers):
                raise _rate_limit_error(what, status, current, headers)
            if policy.retryable(status, headers):
                if attempt < policy.max_retries:
                    delay = policy.delay(headers, attempt + 1)
                    if delay is not None:
                        attempt += 1
                        _logger.info(
                            "%s: HTTP %d from %s, retrying in %.1fs",
                            what,
                            status,
                            _host(current),
                            delay,
                        )
                        self._sleep(delay)
                        request = _resume(request, current, reply.redirects)
                        continue
                raise _give_up(what, status, current, attempt, headers)
            return _final(reply, request)


def _resume(request: Request, url: str, redirects: int) -> Request:
    """The request again, from where the last attempt stopped (a redirect target, say)."""
    return dataclasses.replace(request, url=url, start=request.first_url, redirects=redirects)


def _final(reply: Reply, request: Request) -> Reply:
    """A status no retry changes: 200, a 304 the cache asked for, or an error."""
    status, current, what = reply.status, reply.url, request.what
    if status == 200 or (status == 304 and request.not_modified_ok):
        return reply
    if status in (404, 410):
        raise NotFoundError(
            f"{what}: not found (HTTP {status} from {redact_url(current)})", status=status
        )
    raise UpstreamError(
        f"{what}: unexpected HTTP {status} from {redact_url(current)}", status=status
    )


def _rate_limited(status: int, headers: Mapping[str, str]) -> bool:
    """5xx, 429, and GitHub's 403 with an exhausted rate limit are worth waiting for."""
    if status == 429 or status >= 500:
        return True
    return status == 403 and headers.get("X-RateLimit-Remaining") == "0"


def _quota_spent(status: int, headers: Mapping[str, str]) -> bool:
    """GitHub's primary limit (remaining 0) or a secondary one (429, or 403 with Retry-After)."""
    if status == 429:
        return True
    return status == 403 and (
        headers.get("X-RateLimit-Remaining") == "0" or headers.get("Retry-After") is not None
    )


def _utc(timestamp: float) -> str | None:
    """``YYYY-MM-DD HH:MM:SS UTC``, or None for a time no calendar holds (hostile headers)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
    except (OverflowError, OSError, ValueError):
        return None


def _rate_limit_error(
    what: str, status: int, url: str, headers: Mapping[str, str]
) -> RateLimitedError:
    """The quota as the service states it: requests remaining, and when the limit resets.

    The reset comes from ``X-RateLimit-Reset`` (epoch seconds), else from ``Retry-After``
    (seconds or an HTTP date); the headers are hostile, so anything unusable is said to be.
    """
    remaining = headers.get("X-RateLimit-Remaining", "")[:20]
    limit = headers.get("X-RateLimit-Limit", "")[:20]
    if remaining.isdigit() and limit.isdigit():
        left = f"{remaining} of {limit} requests remain"
    elif remaining.isdigit():
        left = f"{remaining} requests remain"
    else:
        left = "the remaining requests are not stated"
    reset = headers.get("X-RateLimit-Reset", "")[:40]
    retry_after = headers.get("Retry-After", "").strip()[:40]
    when: str | None = None
    if reset:
        when = _utc(int(reset)) if reset.isdigit() else None
        when = when or f"an unusable time ({reset[:20]})"
    elif retry_after.isdigit():
        when = _utc(time.time() + int(retry_after)) or f"an unusable time ({retry_after[:20]})"
    elif retry_after:
        import email.utils

        try:
            when = _utc(email.utils.parsedate_to_datetime(retry_after).timestamp())
        except (TypeError, ValueError, OverflowError):
            when = None
        when = when or f"an unusable time ({retry_after[:20]})"
    resets = f"the limit resets at {when}" if when else "the reset time is not stated"
    state = f"{left}; {resets}"
    return RateLimitedError(
        f"{what}: rate limited by {_host(url)} (HTTP {status}): {state}",
        state=state,
        status=status,
        hint="run again after the reset",
    )


def _give_up(
    what: str, status: int, url: str, attempt: int, headers: Mapping[str, str]
) -> UpstreamError:
    attempts = f"after {attempt + 1} attempt{'s' if attempt else ''}"
    reset = headers.get("X-RateLimit-Reset")
    if status in (403, 429) and reset and reset.isdigit():
        try:
            when = time.strftime("%H:%M:%S UTC", time.gmtime(int(reset)))
        except (OverflowError, OSError, ValueError):  # a hostile, out-of-range timestamp
            when = f"an unusable time ({reset[:20]})"
        return UpstreamError(
            f"{what}: rate limited by {_host(url)} (HTTP {status}, {attempts}); the limit "
            f"resets at {when}",
            status=status,
            # The host may be any index or service: only the GitHub client, which knows it
            # talks to GitHub, suggests a token.
            hint="the server limits how often it may be asked; run again after the reset",
        )
    return UpstreamError(
        f"{what}: HTTP {status} from {redact_url(url)} ({attempts})",
        status=status,
        hint="the service is failing or rate-limiting; try again later",
    )
