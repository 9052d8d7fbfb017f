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

Why the wire is hand-written on ``http.client`` (``DirectTransport``) rather than ``requests``:
a cold lockfile run makes ~800 GETs, and requests spends ~1.25 ms of CPU on each (urllib3 alone
~0.7 ms, ``http.client`` ~0.3 ms, measured on a 9 KB body against the loopback index), which
was about half of the run's whole CPU budget. We use nothing requests adds beyond a pool, TLS
defaults and a decoder (redirects, credentials, caps and the deadline are ours already), so
those three are written here, each with its hostile-server test: a keep-alive pool per origin
with one retry of a kept connection the server had closed, a TLS context built once from the
CA bundle requests would use (hostnames checked), and gzip/deflate decoded in bounded steps so
a decompression bomb stops at the cap. Proxies are the exception: a URL for which the
environment names one goes through ``RequestsTransport``, so there is no proxy or CONNECT code
of our own. Both transports share one redirect loop (``_HopTransport.fetch``) and differ only in
how one hop is sent.

Transport failures are mapped into the project's error family by exception *type* (the chain of
causes that requests and urllib3 build, or http.client's and ssl's own), never by matching
message text, which changes between library versions and platforms.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import heapq
import http.client
import ipaddress
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

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
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""Characters no URL we fetch may hold (a CR/LF would split the request line)."""
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

    # The errors each limit raises, worded once for both transports (tests compare them).

    def connect_timed_out(self, what: str, url: str) -> NetworkError:
        """No connection within ``connect_timeout``."""
        return NetworkError(
            f"{what}: timed out connecting to {_host(url)} "
            f"(connect timeout {self.connect_timeout:g}s)"
        )

    def no_response(self, what: str, url: str) -> NetworkError:
        """No answer within ``read_timeout``."""
        return NetworkError(
            f"{what}: {_host(url)} sent no response (read timeout {self.read_timeout:g}s)"
        )

    def stopped(self, what: str, url: str) -> NetworkError:
        """A body that stopped arriving for ``read_timeout``."""
        return NetworkError(
            f"{what}: {_host(url)} stopped sending (read timeout {self.read_timeout:g}s)"
        )

    def late(self, what: str, url: str) -> NetworkError:
        """An answer still arriving after ``deadline``."""
        return NetworkError(
            f"{what}: {_host(url)} did not finish sending within {self.deadline:g}s"
        )


def _unreachable(what: str, url: str, redirects: int, exc: BaseException) -> Unreachable:
    """No HTTP answer at all (the one transport failure retried), described by type."""
    return Unreachable(
        f"{what}: cannot reach {_host(url)}: {_describe(exc)}", url=url, redirects=redirects
    )


def _broke_off(what: str, url: str, exc: BaseException) -> NetworkError:
    """A body cut off by the connection, described by type."""
    return NetworkError(f"{what}: transfer from {_host(url)} broke off: {_describe(exc)}")


@functools.lru_cache(maxsize=256)
def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 literal (remembered: asked per request)."""
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
        if _CONTROL.search(url):
            # urlsplit would silently drop CR, LF and tab; a URL holding them is refused.
            raise ValueError("control character")
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


class _Answer(Protocol):
    """One hop's answer, however it was sent: status and headers now, the body on demand."""

    status: int
    headers: Headers

    def chunks(self) -> Iterator[bytes]:
        """The decoded body in pieces as they arrive; raises the project's errors.

        Ends only when the body is complete: a body shorter than declared raises. A piece may be
        empty (input arrived, nothing decoded yet), so the caller checks the deadline anyway.
        """

    def close(self) -> None:
        """Release the connection (back to a pool only if the body was read whole)."""


class _HopTransport:
    """The redirect loop and the body rules, shared by both ways of sending one hop.

    Subclasses implement ``_send`` (one GET, no redirects followed, errors mapped into the
    project's family); everything a server could abuse across hops (the redirect budget and
    rules, where credentials go, the size cap and the deadline) is decided here, once.
    """

    limits: Limits

    def _send(
        self, url: str, headers: dict[str, str], *, what: str, redirects: int
    ) -> _Answer:  # pragma: no cover - abstract
        raise NotImplementedError

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """One attempt: redirects followed under the rules, a 200 body read under the caps."""
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
            answer = self._send(current, hop_headers, what=what, redirects=redirects)
            try:
                status = answer.status
                if status in (301, 302, 303, 307, 308):
                    location = answer.headers.get("Location")
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
                reply = Reply(
                    url=current, status=status, headers=answer.headers, redirects=redirects
                )
                if status != 200:
                    return reply
                declared = answer.headers.get("Content-Length")
                cap = request.max_bytes
                if declared is not None and declared.isdigit() and int(declared) > cap:
                    raise UpstreamError(
                        f"{what}: response of {int(declared)} bytes from {redact_url(current)} "
                        f"exceeds the {request.max_bytes}-byte cap"
                    )
                received = 0
                for chunk in answer.chunks():
                    received += len(chunk)
                    if received > cap:
                        raise UpstreamError(
                            f"{what}: response from {redact_url(current)} exceeds the "
                            f"{cap}-byte cap"
                        )
                    if time.monotonic() - started > self.limits.deadline:
                        raise self.limits.late(what, current)
                    if chunk:
                        sink.write(chunk)
                return reply
            finally:
                answer.close()


class RequestsTransport(_HopTransport):
    """The transport through ``requests``: kept for URLs the environment sends via a proxy."""

    def __init__(self, limits: Limits | None = None) -> None:
        """Build it; the session (and ``requests``) only on first use."""
        self.limits = limits or Limits()
        self._session: requests.Session | None = None
        self._bundle_checked = False

    @property
    def session(self) -> requests.Session:
        """The shared session, created on first use (keeps start-up free of ``requests``)."""
        if self._session is None:
            import http.cookiejar

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
            # No cookies: a server's Set-Cookie is never sent back (nor to another host).
            session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            bundle = _ca_bundle()
            if bundle:
                session.verify = bundle
            self._session = session
        return self._session

    def pool_size(self, size: int) -> None:
        """Keep up to ``size`` connections per host (one per parallel job)."""
        from requests.adapters import HTTPAdapter

        for prefix in ("https://", "http://"):
            self.session.mount(
                prefix, HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
            )

    def close(self) -> None:
        """Release pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _send(self, url: str, headers: dict[str, str], *, what: str, redirects: int) -> _Answer:
        import requests

        if not self._bundle_checked and _ca_bundle():
            # requests would raise a bare OSError (a traceback) for a missing bundle, and call
            # a garbled one a TLS failure: both transports say the same thing instead.
            _tls_context(what)
            self._bundle_checked = True
        try:
            response = self.session.get(
                _without_userinfo(url),
                proxies=_proxies_for(url),
                headers=headers,
                stream=True,
                allow_redirects=False,
                auth=_no_auth,
                timeout=(self.limits.connect_timeout, self.limits.read_timeout),
            )
        except requests.exceptions.ConnectTimeout:
            raise self.limits.connect_timed_out(what, url) from None
        except requests.exceptions.Timeout:
            raise self.limits.no_response(what, url) from None
        except requests.exceptions.RequestException as exc:
            raise _unreachable(what, url, redirects, exc) from None
        except ValueError:
            # requests parses a redirect's Location even when not following it, and
            # urllib raises ValueError on a malformed one (e.g. "http://[::1").
            raise UpstreamError(
                f"{what}: malformed redirect target from {redact_url(url)}"
            ) from None
        return _RequestsAnswer(response, what=what, url=url, limits=self.limits)


class _RequestsAnswer:
    """A ``requests`` response as an ``_Answer``."""

    def __init__(self, response: requests.Response, *, what: str, url: str, limits: Limits) -> None:
        self._response = response
        self._what = what
        self._url = url
        self._limits = limits
        self.status = response.status_code
        self.headers = Headers(response.headers)

    def close(self) -> None:
        """Hand the connection back to urllib3 (which decides whether it is reusable)."""
        self._response.close()

    def chunks(self) -> Iterator[bytes]:
        """The body through urllib3's decoder, with its errors mapped."""
        import requests
        import urllib3

        what, url = self._what, self._url
        received = 0
        try:
            for chunk in _chunks(self._response):
                received += len(chunk)
                yield chunk
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            if _is_read_timeout(exc):
                raise self._limits.stopped(what, url) from None
            raise _broke_off(what, url, exc) from None
        declared = self.headers.get("Content-Length")
        encoded = self.headers.get("Content-Encoding", "identity").lower()
        identity = encoded in ("", "identity")
        if declared is not None and declared.isdigit() and identity and received != int(declared):
            raise NetworkError(
                f"{what}: truncated response from {_host(url)} "
                f"({received} of {int(declared)} bytes)"
            )


_Origin = tuple[str, str, int]
_STALE = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)
"""What a reused connection the server had already closed raises before any status line
(``http.client.RemoteDisconnected`` is a ``ConnectionResetError``; over TLS, an EOF)."""
_WIRE_SAFE = "!#$%&'()*+,/:;=?@[]~"
"""Characters left as they are in a request target (requests' ``requote_uri`` set)."""


class _Watchdog:
    """Shuts a connection's socket down when its request outlives the wall-clock deadline.

    Why: http.client reads the status line, the headers, 1xx answers and chunk trailers inside
    one call, where only the per-read timeout applies, so a server sending a byte just inside
    it each time would hold a request for ever (the body loop checks the deadline itself, but
    is never reached). One thread for the whole process keeps every request's deadline and, at
    expiry, shuts the socket down: the blocked read ends, and the request fails as late.
    Started on the first request, so it never exists when worker processes are forked.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, http.client.HTTPConnection] = {}
        self._fired: set[int] = set()
        self._next = 0
        self._thread: threading.Thread | None = None

    def arm(self, conn: http.client.HTTPConnection, deadline: float) -> int:
        """Watch ``conn`` until ``disarm``; return the token for it."""
        with self._cond:
            token = self._next
            self._next += 1
            self._armed[token] = conn
            heapq.heappush(self._heap, (deadline, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="verify-release-deadlines"
                )
                self._thread.start()
            if self._heap[0][1] == token:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True if the deadline had already fired for this token."""
        with self._cond:
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def fired(self, token: int) -> bool:
        """Whether the deadline fired for ``token`` (still armed or not)."""
        with self._cond:
            return token in self._fired

    def _run(self) -> None:
        while True:
            expired: list[http.client.HTTPConnection] = []
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, token = self._heap[0]
                if token not in self._armed:
                    heapq.heappop(self._heap)
                    continue
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                expired.append(self._armed.pop(token))
                self._fired.add(token)
            for conn in expired:
                _shut(conn)


def _shut(conn: http.client.HTTPConnection) -> None:
    """End every read on ``conn`` now (the plain socket's shutdown, also under TLS)."""
    sock = conn.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


class DirectTransport(_HopTransport):
    """The default transport: ``http.client`` with a keep-alive pool and our own TLS context.

    A URL for which the environment names a proxy goes through ``RequestsTransport`` instead
    (built on first need), so there is no proxy or CONNECT code here.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        """Build it; the TLS context only on the first https connection."""
        self.limits = limits or Limits()
        self._max_idle = 10
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._proxied: RequestsTransport | None = None
        # A client dropped without close() (a test, an early error) still closes its sockets.
        weakref.finalize(self, _close_idle, self._idle, self._lock)

    @property
    def proxied(self) -> RequestsTransport:
        """The transport for URLs the environment sends through a proxy."""
        with self._lock:  # parallel jobs: one session, not one per thread that got here first
            if self._proxied is None:
                proxied = RequestsTransport(self.limits)
                proxied.pool_size(self._max_idle)
                self._proxied = proxied
            return self._proxied

    def pool_size(self, size: int) -> None:
        """Keep up to ``size`` idle connections per origin (one per parallel job)."""
        self._max_idle = max(1, size)
        if self._proxied is not None:
            self._proxied.pool_size(self._max_idle)

    def close(self) -> None:
        """Close every pooled connection."""
        _close_idle(self._idle, self._lock)
        if self._proxied is not None:
            self._proxied.close()

    def _tls(self, what: str) -> ssl.SSLContext:
        """One context for the whole run: the CA bundle requests would use, hostnames checked."""
        with self._lock:
            return self._context or self._load_tls(what)

    def _load_tls(self, what: str) -> ssl.SSLContext:
        """Build the context (under the pool lock: parallel jobs load the bundle once)."""
        self._context = _tls_context(what)
        return self._context

    def _checkout(
        self, origin: _Origin, *, fresh: bool, what: str
    ) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to ``origin`` that still looks open, or a new one; and which."""
        if not fresh:
            while True:
                with self._lock:
                    idle = self._idle.get(origin)
                    conn = idle.pop() if idle else None
                if conn is None:
                    break
                if _still_open(conn):
                    return conn, True
                conn.close()
        scheme, host, port = origin
        new: http.client.HTTPConnection
        if scheme == "https":
            new = http.client.HTTPSConnection(
                host, port, timeout=self.limits.connect_timeout, context=self._tls(what)
            )
        else:
            new = http.client.HTTPConnection(host, port, timeout=self.limits.connect_timeout)
        return new, False

    def _checkin(self, origin: _Origin, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` for the next request to ``origin``, unless the pool is full."""
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def _connect(
        self, conn: http.client.HTTPConnection, url: str, *, what: str, redirects: int
    ) -> None:
        """Open the TCP (and TLS) connection under the connect timeout, then switch to reads."""
        try:
            conn.connect()
        except TimeoutError:
            conn.close()
            raise self.limits.connect_timed_out(what, url) from None
        except (OSError, ssl.CertificateError) as exc:
            conn.close()
            raise _unreachable(what, url, redirects, exc) from None
        if conn.sock is not None:
            conn.sock.settimeout(self.limits.read_timeout)

    def _send(self, url: str, headers: dict[str, str], *, what: str, redirects: int) -> _Answer:
        if _proxies_for(url):
            return self.proxied._send(url, headers, what=what, redirects=redirects)
        parts = urlsplit(url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        origin: _Origin = (scheme, parts.hostname or "", port)
        target = quote(parts.path or "/", safe=_WIRE_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_WIRE_SAFE)
        # Only a reused connection may have been closed by the server while idle; that one
        # failure is retried once on a new connection, never more.
        conn, reused = self._checkout(origin, fresh=False, what=what)
        deadline = time.monotonic() + self.limits.deadline
        watch = [_WATCHDOG.arm(conn, deadline)]
        try:
            conn, response = self._exchange(
                conn,
                reused,
                origin,
                watch,
                deadline,
                url,
                target,
                headers,
                what=what,
                redirects=redirects,
            )
        except BaseException:
            if _WATCHDOG.disarm(watch[0]):
                raise self.limits.late(what, url) from None
            raise
        if _WATCHDOG.fired(watch[0]):
            # The socket was shut mid-head: what http.client made of the rest (an end of
            # headers, an empty body) is not the server's answer.
            _WATCHDOG.disarm(watch[0])
            response.close()
            conn.close()
            raise self.limits.late(what, url)
        if response.status < 200:
            # An interim answer (103 Early Hints, ...) that http.client returned as the answer:
            # its final answer would follow on this connection, so it is never kept.
            _WATCHDOG.disarm(watch[0])
            response.close()
            conn.close()
            raise UpstreamError(
                f"{what}: {_host(url)} sent an interim answer ({response.status}) where a "
                "response belongs"
            )
        return _DirectAnswer(self, origin, conn, response, what=what, url=url, token=watch[0])

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        reused: bool,
        origin: _Origin,
        watch: list[int],
        deadline: float,
        url: str,
        target: str,
        headers: dict[str, str],
        *,
        what: str,
        redirects: int,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request and read the answer's head, on ``conn`` or (once) a fresh one.

        ``watch`` holds the watchdog's token for the connection in use (a fresh one is watched
        until the same ``deadline``).
        """
        while True:
            if not reused:
                self._connect(conn, url, what=what, redirects=redirects)
                if _WATCHDOG.fired(watch[0]):
                    # The deadline passed while connecting, before there was a socket to shut.
                    conn.close()
                    raise self.limits.late(what, url)
            try:
                conn.request("GET", target, headers=headers)
                return conn, conn.getresponse()
            except _STALE as exc:
                conn.close()
                if reused and not _WATCHDOG.fired(watch[0]):
                    conn, reused = self._checkout(origin, fresh=True, what=what)
                    _WATCHDOG.disarm(watch[0])
                    watch[0] = _WATCHDOG.arm(conn, deadline)
                    continue
                raise _unreachable(what, url, redirects, exc) from None
            except TimeoutError:
                conn.close()
                raise self.limits.no_response(what, url) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _unreachable(what, url, redirects, exc) from None
            except ValueError:
                # http.client refuses a header value with CR/LF or non-Latin-1 text (a tampered
                # cache entry's validator, a broken token); its message holds the value, which
                # may be the token, so it is never shown.
                conn.close()
                raise UpstreamError(
                    f"{what}: refusing to send a malformed request header to {_host(url)}"
                ) from None


class _DirectAnswer:
    """An ``http.client`` response as an ``_Answer``; returns its connection when done."""

    def __init__(
        self,
        transport: DirectTransport,
        origin: _Origin,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        *,
        what: str,
        url: str,
        token: int,
    ) -> None:
        self._transport = transport
        self._token = token
        self._origin = origin
        self._conn: http.client.HTTPConnection | None = conn
        self._response = response
        self._what = what
        self._url = url
        self._whole = response.length == 0 and not response.chunked
        self.status = response.status
        self.headers = _joined_headers(response.msg)

    def close(self) -> None:
        """Pool the connection if the body was read whole and the server keeps it open."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        fired = _WATCHDOG.disarm(self._token)
        response = self._response
        whole = self._whole and not fired
        response.close()
        if whole and not response.will_close:
            self._transport._checkin(self._origin, conn)
        else:
            conn.close()

    def chunks(self) -> Iterator[bytes]:
        """The body decoded as it arrives, each piece what one socket read produced.

        ``read1`` returns as soon as some bytes are in, so a byte-at-a-time drip still gives
        the caller's loop a chance to check the deadline after each byte.
        """
        what, url, response = self._what, self._url, self._response
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        decoder = _decoder(encoding)
        if decoder is None:
            raise UpstreamError(
                f"{what}: response from {redact_url(url)} has an unsupported content encoding "
                f"{encoding[:40]!r}"
            )
        try:
            while True:
                raw = response.read1(CHUNK)
                if not raw:
                    break
                produced = False
                for piece in decoder.feed(raw):
                    produced = True
                    yield piece
                if not produced:
                    # Compressed input that decodes to nothing (a header, empty deflate blocks)
                    # still arrived: the caller's loop must see it to check the deadline.
                    yield b""
            if _WATCHDOG.fired(self._token):
                # The socket was shut at the deadline: the end of input is not the body's end.
                raise self._transport.limits.late(what, url)
            if response.length:
                # http.client's read1 returns b"" at EOF even when Content-Length promised more.
                raise http.client.IncompleteRead(b"", response.length)
            yield from decoder.finish()
        except TimeoutError:
            raise self._transport.limits.stopped(what, url) from None
        except (OSError, http.client.HTTPException) as exc:
            if _WATCHDOG.fired(self._token):
                raise self._transport.limits.late(what, url) from None
            raise _broke_off(what, url, exc) from None
        except zlib.error:
            raise UpstreamError(
                f"{what}: response from {redact_url(url)} is not valid {encoding} data"
            ) from None
        self._whole = True


class _Identity:
    """The body as sent."""

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Pass ``data`` through."""
        yield data

    def finish(self) -> Iterator[bytes]:
        """Nothing is held back."""
        return iter(())


class _Inflate:
    """gzip or deflate, decoded incrementally, at most ``CHUNK`` bytes out per step.

    The bound on each step (``max_length``) is what stops a decompression bomb: the caller sees
    the size cap crossed after a few steps, long before the whole expansion is in memory.
    """

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode ``data``; a concatenated gzip member starts a new stream, as urllib3 allows."""
        if not self._started and data and not self._gzip:
            self._started = True
            try:
                zlib.decompressobj(self._wbits).decompress(data[:2])
            except zlib.error:
                # Some servers send raw deflate without the zlib header (urllib3 accepts both).
                self._wbits = -zlib.MAX_WBITS
                self._inflate = zlib.decompressobj(self._wbits)
        self._started = True
        while data:
            if self._inflate.eof:
                if not self._gzip:
                    raise zlib.error("data after the end of the deflate stream")
                self._inflate = zlib.decompressobj(self._wbits)
            out = self._inflate.decompress(data, CHUNK)
            data = self._inflate.unused_data if self._inflate.eof else self._inflate.unconsumed_tail
            if out:
                yield out

    def finish(self) -> Iterator[bytes]:
        """Refuse a stream cut short (no end marker): that is not the body the server meant."""
        if self._started and not self._inflate.eof:
            raise zlib.error("incomplete compressed stream")
        return iter(())


def _decoder(encoding: str) -> _Identity | _Inflate | None:
    """The decoder for a Content-Encoding, or None for one we do not decode."""
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Inflate(gzip=True)
    if encoding == "deflate":
        return _Inflate(gzip=False)
    return None


def _joined_headers(message: Any) -> Headers:
    """Response headers with repeats joined by ", " (as requests and urllib3 present them)."""
    joined: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return Headers(joined)


def _close_idle(
    idle: dict[_Origin, list[http.client.HTTPConnection]], lock: threading.Lock
) -> None:
    """Close and forget every pooled connection (the dict is kept: the finalizer holds it)."""
    with lock:
        connections = [conn for pooled in idle.values() for conn in pooled]
        idle.clear()
    for conn in connections:
        conn.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """True for an idle connection with nothing to read.

    One the server closed (or wrote to unasked, e.g. bytes past a body's Content-Length) is
    readable, and is not reused.
    """
    sock = conn.sock
    if sock is None:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        # Bytes OpenSSL already decrypted past the last answer (a forged next answer in the
        # same TLS record) are invisible to select: such a connection is never reused.
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _tls_context(what: str) -> ssl.SSLContext:
    """A verifying context from the CA bundle requests would use (the environment's, or certifi).

    A missing or unreadable bundle is an error, never a reason to fall back to another one.
    """
    bundle = _ca_bundle()
    if bundle is None:
        import certifi

        bundle = certifi.where()
    try:
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    except (OSError, ValueError) as exc:
        raise NetworkError(
            f"{what}: cannot load the CA bundle {bundle} "
            f"(REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE): {type(exc).__name__}"
        ) from None


def _ca_bundle() -> str | None:
    """The CA bundle the environment names (as requests reads it), or None for certifi's."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


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
    """A short, token-free, one-line description of a transport error, by exception type.

    The same exception types give the same words whichever transport raised them; requests'
    and urllib3's own types are looked at only when they are loaded (the default transport
    never imports them).
    """
    chain = list(_causes(exc))
    requests = sys.modules.get("requests")
    urllib3 = sys.modules.get("urllib3")

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    def has_lib(name: str) -> bool:
        return any(
            isinstance(kind, type) and has(kind)
            for kind in (
                getattr(getattr(lib, "exceptions", None), name, None) for lib in (requests, urllib3)
            )
        )

    if has(socket.gaierror) or has_lib("NameResolutionError"):
        return "DNS lookup failed"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(http.client.RemoteDisconnected):  # a ConnectionResetError: checked first
        return "the server closed the connection without answering"
    if has(ConnectionResetError):
        return "connection reset"
    if has(http.client.IncompleteRead) or has_lib("IncompleteRead"):
        return "connection closed before the body was complete"
    if has(ssl.SSLError, ssl.CertificateError) or has_lib("SSLError"):
        return "TLS verification failed"
    if has(http.client.HTTPException):
        # LineTooLong, too many headers, BadStatusLine: not an HTTP answer we can read.
        return "the server sent a malformed status line or headers"
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
    if not any(
        name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
        for name, value in os.environ.items()
    ):
        # No proxy variable at all: nothing for requests' rules to find, and no need to
        # import requests (which the default transport otherwise never loads).
        return ()
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
