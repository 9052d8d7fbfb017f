"""The only module that talks HTTP.

Every byte that reaches the verifier from a network comes through ``HttpClient``, which is where
the rules for untrusted remote services live, once:

- https only; plain http is allowed for loopback addresses alone (local test indexes);
- connect and read timeouts, plus a wall-clock deadline per request (a server that drips one byte
  per second never trips a read timeout);
- a size cap on every body, checked against Content-Length first and then while streaming, on
  the *decoded* bytes (so a compression bomb is cut off at the cap);
- bounded retries on connection errors, 429 and 5xx, honouring Retry-After up to a ceiling
  (timeouts are not retried: a stalled server would multiply the wait);
- redirects are followed by hand, to the same host only (unless a caller explicitly allows
  another host, in which case credentials are never forwarded there);
- credentials in a URL (``https://user:password@index/``, as private indexes are configured)
  are sent as HTTP Basic auth to that URL's own origin only, and every URL that becomes text
  goes through ``verifier.urls.redact_url`` first (``redact_url`` is re-exported here).

The rules are enforced in layers, each a ``Transport`` (the model is python-tuf's ngclient
fetcher): ``verifier.transport`` makes one attempt under the caps, deadline, redirect and
credential rules; ``verifier.retry`` applies the retry policy; ``verifier.wrappers`` adds the
response cache, the evidence recorder and its replay. ``HttpClient`` stacks them and is the only
thing callers use.

The wire is ``http.client`` (``verifier.transport.DirectTransport``); ``requests`` is imported
only for a URL the environment sends through a proxy.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifier.errors import UpstreamError
from verifier.gate import Gate, Gated
from verifier.retry import MAX_RETRY_AFTER as MAX_RETRY_AFTER
from verifier.retry import Retrying, RetryPolicy
from verifier.secrets import Secret
from verifier.store import ResponseStore
from verifier.transport import MAX_REDIRECTS as MAX_REDIRECTS
from verifier.transport import USER_AGENT as USER_AGENT
from verifier.transport import (
    DirectTransport,
    FileSink,
    Limits,
    MemorySink,
    Request,
    RequestsTransport,
    Transport,
)
from verifier.transport import check_url as check_url
from verifier.transport import is_loopback_host as is_loopback_host
from verifier.urls import redact_url as redact_url  # re-exported: callers import it from here
from verifier.wrappers import Caching, Recording, Replaying

DEFAULT_JOBS = 8
"""Requests at once until ``pool_size`` says otherwise (``--jobs``' default)."""
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Cap for JSON/HTML bodies: the largest PyPI simple pages are a few MB."""
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
"""Cap for distribution files when the index does not state a size."""


@dataclass(frozen=True)
class HttpResponse:
    """A fully read, size-capped response body."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self, *, what: str) -> Any:
        """Decode the body as JSON; a malformed body is an ``UpstreamError`` naming ``what``."""
        try:
            return json.loads(self.content.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            # ValueError covers UnicodeDecodeError, JSONDecodeError and integers longer than
            # the int/str conversion limit; RecursionError comes from deeply nested arrays.
            raise UpstreamError(
                f"{what} from {redact_url(self.url)} is not valid JSON: {exc}"
            ) from None


@dataclass(frozen=True)
class HttpConfig:
    """Knobs for ``HttpClient``; defaults suit PyPI from a CI runner."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 300.0
    """Wall-clock limit for one request including its body."""
    max_retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = MAX_RETRY_AFTER

    def limits(self) -> Limits:
        """The transport's share of the knobs."""
        return Limits(self.connect_timeout, self.read_timeout, self.deadline)

    def retry_policy(self) -> RetryPolicy:
        """The retry policy's share of the knobs."""
        return RetryPolicy(self.max_retries, self.backoff, self.max_retry_after)


class HttpClient:
    """The stack of transports every check shares, with the rules above enforced."""

    def __init__(
        self,
        config: HttpConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        cache: ResponseStore | None = None,
        evidence: ResponseStore | None = None,
        replay: bool = False,
    ) -> None:
        """Build a client.

        ``cache``: conditional/immutable response cache. ``evidence``: the directory that
        records every response (``replay=False``) or serves them with no network (``True``).
        """
        self.config = config or HttpConfig()
        self._sleep = sleep
        self.cache = cache
        self.evidence = evidence
        self.replay = replay
        # http.client directly (see verifier.transport); URLs the environment proxies go
        # through requests. A test may swap in RequestsTransport to hold it to the same rules.
        self.transport: DirectTransport | RequestsTransport = DirectTransport(self.config.limits())
        self.gate = Gate(DEFAULT_JOBS)

    def pool_size(self, size: int) -> None:
        """At most ``size`` requests at once, and as many connections kept per host."""
        self.transport.pool_size(size)
        self.gate = Gate(size)

    def cancel(self) -> None:
        """Start no request from now on (Ctrl-C): waiting threads give up, unanswered."""
        self.gate.close()

    def close(self) -> None:
        """Release pooled connections."""
        self.transport.close()

    def _stack(self) -> Transport:
        """The layers for this client's settings, outermost first: record, cache, retry, wire.

        Built per call from the attributes, so a client reconfigured after construction (as a
        test may do) still gets the layers it asks for; the objects are a few bytes each.
        """
        if self.replay:
            return Replaying(self.evidence)
        wire = Gated(self.transport, self.gate)
        stack: Transport = Retrying(wire, self.config.retry_policy(), sleep=self._sleep)
        if self.cache is not None:
            stack = Caching(stack, self.cache)
        if self.evidence is not None:
            stack = Recording(stack, self.evidence)
        return stack

    def get(
        self,
        url: str,
        *,
        what: str,
        accept: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        content_types: tuple[str, ...] = (),
        token: Secret | None = None,
        extra_headers: Mapping[str, str] | None = None,
        cache: str = "none",
        wait_on_rate_limit: bool = True,
    ) -> HttpResponse:
        """GET ``url`` into memory, or raise ``NetworkError``/``UpstreamError``/``NotFoundError``.

        ``what`` names the thing being fetched in every error message ("provenance for X").
        ``content_types``, when given, is the set of acceptable media types. ``cache`` is
        ``none``, ``revalidate`` (ETag/Cache-Control) or ``immutable`` (kept forever).
        ``wait_on_rate_limit=False``: a spent quota (403/429 with ``X-RateLimit-Remaining: 0``,
        429, or a Retry-After on a 403) raises ``RateLimitedError`` at once, without a retry.
        """
        request = Request(
            url=url,
            what=what,
            max_bytes=max_bytes,
            accept=accept,
            headers=dict(extra_headers or {}),
            token=token,
            cache=cache,
            wait_on_rate_limit=wait_on_rate_limit,
        )
        sink = MemorySink()
        reply = self._stack().fetch(request, sink)
        result = HttpResponse(
            url=reply.url, status=reply.status, headers=reply.headers, content=sink.data()
        )
        if content_types and result.content_type not in content_types:
            raise UpstreamError(
                f"{what} from {redact_url(result.url)} has content type "
                f"{result.content_type or '(none)'!r}, expected one of {', '.join(content_types)}"
            )
        return result

    def download(
        self,
        url: str,
        dest: Path,
        *,
        what: str,
        max_bytes: int = DEFAULT_MAX_FILE_BYTES,
        token: Secret | None = None,
        accept: str | None = None,
        cross_host_redirects: bool = False,
        wait_on_rate_limit: bool = True,
    ) -> str:
        """Stream ``url`` to ``dest`` atomically; return the sha256 hex digest of what was written.

        The file only appears at ``dest`` once the whole body has arrived within the caps.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        request = Request(
            url=url,
            what=what,
            max_bytes=max_bytes,
            accept=accept,
            token=token,
            cross_host_redirects=cross_host_redirects,
            wait_on_rate_limit=wait_on_rate_limit,
            download=True,
        )
        stack = self._stack()
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                sink = FileSink(handle, Path(tmp_name))
                stack.fetch(request, sink)
            os.replace(tmp_name, dest)
            return sink.hexdigest()
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
