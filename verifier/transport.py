"""One HTTP attempt, under every rule for an untrusted remote service.

The transport is the bottom layer of ``verifier.http`` (the model is python-tuf's ngclient
fetcher: one small interface, one error family, hard limits). ``Transport.fetch`` makes one
attempt at a ``Request``: it checks the URL, follows redirects by hand under the redirect
rules, attaches URL credentials and the token only to their own origin, and streams a 200 body
into a ``Sink`` under the size cap and the wall-clock deadline. It never retries and never
decides what a status means beyond that: any other final status comes back as a ``Reply``
whose body was not read, so that the retry policy (``verifier.retry``) and the cache, record and
replay layers (``verifier.wrappers``) can be stacked on it and unit-tested with an in-memory
fake instead of a socket.

Transport failures are mapped into the project's error family by exception *type* (the chain of
causes that requests and urllib3 build), never by matching message text, which changes between
library versions and platforms.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.client
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from verifier import __version__
from verifier.errors import NetworkError, RefusedURL, UpstreamError
from verifier.secrets import Secret
from verifier.urls import redact_url

if TYPE_CHECKING:
    import requests

    from verifier.store import ResponseStore

USER_AGENT = f"verify-release/{__version__}"
_BASE_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept-Encoding": "gzip, deflate",
    "Accept": "*/*",
    "Connection": "keep-alive",
}
"""What requests' default session headers would add, with our User-Agent."""
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class Headers(dict[str, str]):
    """Response headers looked up without regard to case, as HTTP defines them.

    A plain ``dict`` (so it compares and prints like one) whose keys are stored lower-cased;
    the retry policy reads ``X-RateLimit-Remaining`` whatever case a server or a fake used.
    """

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__({k.lower(): v for k, v in (items or {}).items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get`` with the key lower-cased."""
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class Request:
    """One GET as the layers pass it down: what to fetch and under which rules.

    ``start`` and ``redirects`` let a retry resume at the redirect target where the previous
    attempt stopped, with the credentials of the URL first asked for and the redirect budget
    already spent (so a retry never grants a fresh budget of redirects).
    """

    url: str
    what: str
    max_bytes: int
    accept: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    token: Secret | None = None
    cache: str = "none"
    not_modified_ok: bool = False
    cross_host_redirects: bool = False
    wait_on_rate_limit: bool = True
    download: bool = False
    start: str | None = None
    redirects: int = 0

    @property
    def first_url(self) -> str:
        """The URL the caller asked for (whose user information is its credentials)."""
        return self.start or self.url


@dataclass(frozen=True)
class Reply:
    """The final answer of one attempt; its body is in the sink only when ``status`` is 200."""

    url: str
    status: int
    headers: Headers
    redirects: int = 0


class Unreachable(NetworkError):
    """No HTTP answer at all (refused, reset, DNS, TLS): the one transport failure retried.

    ``url`` and ``redirects`` say where the attempt stopped, so a retry resumes there.
    """

    def __init__(self, message: str, *, url: str, redirects: int) -> None:
        super().__init__(message)
        self.url = url
        self.redirects = redirects


class Sink(Protocol):
    """Where a body goes as it arrives."""

    def write(self, chunk: bytes) -> None:
        """Take the next piece of the body."""

    def save(self, store: ResponseStore, key: str, **meta: Any) -> None:
        """Store what was written under ``key`` (the evidence recorder's way to the body)."""


class MemorySink:
    """A body kept in memory (pages and JSON documents, a few MB at most)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        """Append a piece."""
        self._parts.append(chunk)

    def data(self) -> bytes:
        """Everything written so far."""
        return b"".join(self._parts)

    def save(self, store: ResponseStore, key: str, **meta: Any) -> None:
        """Store the body from memory."""
        store.save(key, body=self.data(), **meta)


class FileSink:
    """A body streamed to an open file, hashed on the way (distribution files)."""

    def __init__(self, handle: IO[bytes], path: Path | None = None) -> None:
        self._handle = handle
        self._path = path
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        """Write and hash a piece."""
        self._handle.write(chunk)
        self._hash.update(chunk)

    def hexdigest(self) -> str:
        """The sha256 of everything written."""
        return self._hash.hexdigest()

    def save(self, store: ResponseStore, key: str, **meta: Any) -> None:
        """Store the body by copying the file (flushed first: it is still open)."""
        if self._path is None:
            raise ValueError("a FileSink without a path cannot be stored")
        self._handle.flush()
        store.save(key, body_file=self._path, **meta)


class Transport(Protocol):
    """One attempt at a request; the interface every layer implements and wraps."""

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """Fetch ``request``, writing a 200 body into ``sink``; raise the project's errors."""


@dataclass(frozen=True)
class Limits:
    """The transport's time limits (the size cap travels with each request)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 300.0
    """Wall-clock limit for one response including its body."""


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 literal."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """Refuse anything but https (or http to loopback); return the URL unchanged.

    Raises ``RefusedURL``: nothing is fetched. Whoever passed the URL decides what that means
    (a bad flag is a usage error; a hostile index response makes its evidence unreachable).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed or out-of-range port
    except ValueError:
        raise RefusedURL(
            f"refusing to fetch {redact_url(url)!r}: not a valid URL",
            hint="use an https:// index URL",
        ) from None
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise RefusedURL(
        f"refusing to fetch {redact_url(url)!r}: only https URLs (or http to a loopback address) "
        "are allowed",
        hint="use an https:// index URL",
    )


class RequestsTransport:
    """The real transport: one ``requests.Session`` shared by every check."""

    def __init__(self, limits: Limits | None = None) -> None:
        """Build it; the session (and ``requests``) only on first use."""
        self.limits = limits or Limits()
        self._session: requests.Session | None = None
        self._pool: int | None = None

    @property
    def session(self) -> requests.Session:
        """The shared session, created on first use (keeps start-up free of ``requests``)."""
        if self._session is None:
            import requests

            session = requests.Session()
            # Every request carries its full headers (see _BASE_HEADERS) and its proxies, so
            # the session holds none: requests then skips merging per-session settings, which
            # on Python < 3.12 costs several slow runtime-protocol isinstance checks per GET.
            session.headers = None  # type: ignore[assignment]
            session.params = None  # type: ignore[assignment]
            session.proxies = None  # type: ignore[assignment]
            # The environment's proxies and CA bundle are honoured, but resolved here (CA
            # bundle) and once per host (proxies) rather than by requests on every request,
            # which rescans os.environ each time; trust_env off also keeps ~/.netrc out.
            session.trust_env = False
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                session.verify = bundle
            self._session = session
            if self._pool is not None:
                self._mount(session, self._pool)
        return self._session

    def pool_size(self, size: int) -> None:
        """Keep up to ``size`` connections per host (one per parallel job).

        Applied when the session is built: a run that fetches nothing (a warm cache) never
        imports ``requests``.
        """
        self._pool = size
        if self._session is not None:
            self._mount(self._session, size)

    @staticmethod
    def _mount(session: requests.Session, size: int) -> None:
        from requests.adapters import HTTPAdapter

        for prefix in ("https://", "http://"):
            session.mount(
                prefix, HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
            )

    def close(self) -> None:
        """Release pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """One attempt: redirects followed under the rules, a 200 body read under the caps."""
        import requests

        what = request.what
        check_url(request.url)
        basic = _basic_auth(request.first_url)
        headers = dict(request.headers)
        if request.accept:
            headers["Accept"] = request.accept
        redirects = request.redirects
        current = request.url
        while True:
            started = time.monotonic()
            hop_headers = {**_BASE_HEADERS, **headers}
            if basic is not None and _origin(current) == basic[0]:
                # URL credentials go to their own origin only: never to another host, port or
                # scheme a redirect points at.
                hop_headers["Authorization"] = basic[1]
            if request.token is not None and _same_origin_host(current, request.token.host):
                # The token goes to its own host only: never to a redirect target elsewhere.
                hop_headers["Authorization"] = f"Bearer {request.token.get()}"
            try:
                response = self.session.get(
                    _without_userinfo(current),
                    proxies=_proxies_for(current),
                    headers=hop_headers,
                    stream=True,
                    allow_redirects=False,
                    auth=_no_auth,
                    timeout=(self.limits.connect_timeout, self.limits.read_timeout),
                )
            except requests.exceptions.ConnectTimeout:
                raise NetworkError(
                    f"{what}: timed out connecting to {_host(current)} "
                    f"(connect timeout {self.limits.connect_timeout:g}s)"
                ) from None
            except requests.exceptions.Timeout:
                raise NetworkError(
                    f"{what}: {_host(current)} sent no response "
                    f"(read timeout {self.limits.read_timeout:g}s)"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise Unreachable(
                    f"{what}: cannot reach {_host(current)}: {_describe(exc)}",
                    url=current,
                    redirects=redirects,
                ) from None
            except ValueError:
                # requests parses a redirect's Location even when not following it, and
                # urllib raises ValueError on a malformed one (e.g. "http://[::1").
                raise UpstreamError(
                    f"{what}: malformed redirect target from {redact_url(current)}"
                ) from None

            with response:
                status = response.status_code
                if status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    redirects += 1
                    if not location or redirects > MAX_REDIRECTS:
                        raise UpstreamError(
                            f"{what}: too many redirects or a redirect without a target "
                            f"from {redact_url(current)}",
                            status=status,
                        )
                    try:
                        target = urljoin(current, location)
                        _check_redirect(
                            current, target, what=what, cross_host=request.cross_host_redirects
                        )
                    except ValueError:
                        raise UpstreamError(
                            f"{what}: malformed redirect target {redact_url(location)!r} "
                            f"from {redact_url(current)}",
                            status=status,
                        ) from None
                    current = target
                    continue
                headers_in = Headers(response.headers)
                reply = Reply(url=current, status=status, headers=headers_in, redirects=redirects)
                if status != 200:
                    return reply
                declared = response.headers.get("Content-Length")
                cap = request.max_bytes
                if declared is not None and declared.isdigit() and int(declared) > cap:
                    raise UpstreamError(
                        f"{what}: response of {int(declared)} bytes from {redact_url(current)} "
                        f"exceeds the {request.max_bytes}-byte cap"
                    )
                self._read_body(response, request, sink=sink, started=started, url=current)
                return reply

    def _read_body(
        self, response: requests.Response, request: Request, *, sink: Sink, started: float, url: str
    ) -> None:
        import requests
        import urllib3

        what, max_bytes = request.what, request.max_bytes
        received = 0
        try:
            for chunk in _chunks(response):
                received += len(chunk)
                if received > max_bytes:
                    raise UpstreamError(
                        f"{what}: response from {redact_url(url)} exceeds the {max_bytes}-byte cap"
                    )
                if time.monotonic() - started > self.limits.deadline:
                    raise NetworkError(
                        f"{what}: {_host(url)} did not finish sending within "
                        f"{self.limits.deadline:g}s"
                    )
                sink.write(chunk)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            if _is_read_timeout(exc):
                raise NetworkError(
                    f"{what}: {_host(url)} stopped sending (read timeout "
                    f"{self.limits.read_timeout:g}s)"
                ) from None
            raise NetworkError(
                f"{what}: transfer from {_host(url)} broke off: {_describe(exc)}"
            ) from None
        declared = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity").lower()
        identity = encoded in ("", "identity")
        if declared is not None and declared.isdigit() and identity and received != int(declared):
            raise NetworkError(
                f"{what}: truncated response from {_host(url)} "
                f"({received} of {int(declared)} bytes)"
            )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps.

    requests and urllib3 nest the real cause in ``args``, ``reason`` (MaxRetryError) and
    ``__cause__``/``__context__``; the walk is bounded, since the chain is library-built.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen or len(seen) > 32:
            continue
        seen.add(id(current))
        yield current
        inner = [*current.args, getattr(current, "reason", None)]
        inner += [current.__cause__, current.__context__]
        pending.extend(e for e in inner if isinstance(e, BaseException))


def _describe(exc: BaseException) -> str:
    """A short, token-free, one-line description of a transport error, by exception type."""
    import requests
    import urllib3

    chain = list(_causes(exc))

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return "DNS lookup failed"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(http.client.RemoteDisconnected):  # a ConnectionResetError: checked first
        return "the server closed the connection without answering"
    if has(ConnectionResetError):
        return "connection reset"
    if has(http.client.IncompleteRead, urllib3.exceptions.IncompleteRead):
        return "connection closed before the body was complete"
    if has(ssl.SSLError, urllib3.exceptions.SSLError, requests.exceptions.SSLError):
        return "TLS verification failed"
    return type(exc).__name__


def _is_read_timeout(exc: BaseException) -> bool:
    """A read that timed out mid-body (urllib3's error, possibly wrapped by requests)."""
    import requests
    import urllib3

    kinds = (urllib3.exceptions.ReadTimeoutError, requests.exceptions.ReadTimeout, TimeoutError)
    return any(isinstance(e, kinds) for e in _causes(exc))


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The decoded body in pieces, each returned as soon as *some* bytes have arrived.

    ``iter_content`` blocks until a whole chunk is in, so a server dripping a byte at a time
    would hold one read for up to ``CHUNK`` read timeouts and the deadline would never be
    checked; ``read1`` returns whatever one socket read produced.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # urllib3 < 2.3: no read1; fall back to whole chunks
        yield from response.iter_content(chunk_size=CHUNK)
        return
    while True:
        chunk = read1(CHUNK, decode_content=True)
        if not chunk:
            return
        yield chunk


@functools.lru_cache(maxsize=256)
def _proxies_for_origin(scheme: str, netloc: str) -> tuple[tuple[str, str], ...]:
    from requests.utils import get_environ_proxies

    return tuple(sorted(get_environ_proxies(f"{scheme}://{netloc}/").items()))


def _proxies_for(url: str) -> dict[str, str]:
    """The environment's proxies for ``url`` (HTTPS_PROXY, NO_PROXY ...), cached per origin."""
    parts = urlsplit(url)
    return dict(_proxies_for_origin(parts.scheme, parts.netloc))


def _no_auth(request: Any) -> Any:
    """An auth hook that adds nothing: its presence stops requests from reading ~/.netrc."""
    return request


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, lower-cased host, port) of an already checked URL."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _basic_auth(url: str) -> tuple[tuple[str, str, int | None], str] | None:
    """The origin of ``url`` and a Basic ``Authorization`` value from its user information.

    ``requests`` would do this itself, but the ``_no_auth`` hook that keeps ``~/.netrc`` out
    also turns it off; doing it here keeps the origin rule in one place.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return _origin(url), f"Basic {credentials}"


def _without_userinfo(url: str) -> str:
    """``url`` as sent on the wire: credentials travel in a header, never in the URL."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _same_origin_host(url: str, host: str) -> bool:
    parts = urlsplit(url)
    netloc = (parts.hostname or "").lower()
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return netloc == host.lower()


def _check_redirect(source: str, target: str, *, what: str, cross_host: bool = False) -> None:
    """Same-host redirects are followed; another host only where the caller allows it.

    Credentials never follow a redirect to another host: ``_request`` attaches the token per
    hop, only when the hop's host is the token's own.
    """
    src, dst = urlsplit(source), urlsplit(target)
    if cross_host:
        if src.scheme == "https" and dst.scheme != "https":
            raise UpstreamError(f"{what}: refusing a redirect from https to {dst.scheme}")
        _check_redirect_url(target, what=what)
        return
    if (dst.hostname or "").lower() != (src.hostname or "").lower() or dst.port != src.port:
        raise UpstreamError(
            f"{what}: refusing a redirect from {_host(source)} to another host ({_host(target)})"
        )
    if src.scheme == "https" and dst.scheme != "https":
        raise UpstreamError(f"{what}: refusing a redirect from https to {dst.scheme}")
    _check_redirect_url(target, what=what)


def _check_redirect_url(target: str, *, what: str) -> None:
    """A redirect target is remote input: a bad one is the server's fault, not a usage error."""
    try:
        check_url(target)
    except RefusedURL as exc:
        raise UpstreamError(f"{what}: refusing a redirect: {exc}") from None


def _host(url: str) -> str:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return "?"
    return netloc.rpartition("@")[2] or "?"
