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

``requests`` is imported lazily so that ``verify-release --help`` stays fast.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import hashlib
import ipaddress
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from verifier import __version__
from verifier.errors import (
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RefusedURL,
    UpstreamError,
)
from verifier.secrets import Secret
from verifier.store import (
    ResponseStore,
    Stored,
    UnreadableEntry,
    UnwritableStore,
    max_age,
    response_key,
)
from verifier.urls import redact_url as redact_url  # re-exported: callers import it from here

if TYPE_CHECKING:
    import requests

_logger = logging.getLogger(__name__)

USER_AGENT = f"verify-release/{__version__}"
_BASE_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept-Encoding": "gzip, deflate",
    "Accept": "*/*",
    "Connection": "keep-alive",
}
"""What requests' default session headers would add, with our User-Agent."""
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Cap for JSON/HTML bodies: the largest PyPI simple pages are a few MB."""
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
"""Cap for distribution files when the index does not state a size."""
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0
_CHUNK = 64 * 1024


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


class HttpClient:
    """One ``requests.Session`` shared by every check, with the rules above enforced."""

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
        self._session: requests.Session | None = None

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
        key = response_key(url, accept)
        if self.replay:
            result = self._replayed(key, url, what=what)
        else:
            result = self._fetch(
                url,
                key,
                what=what,
                accept=accept,
                max_bytes=max_bytes,
                token=token,
                extra_headers=extra_headers,
                cache=cache,
                wait_on_rate_limit=wait_on_rate_limit,
            )
        if content_types and result.content_type not in content_types:
            raise UpstreamError(
                f"{what} from {redact_url(result.url)} has content type "
                f"{result.content_type or '(none)'!r}, expected one of {', '.join(content_types)}"
            )
        return result

    def _replayed(self, key: str, url: str, *, what: str) -> HttpResponse:
        stored = self._evidence_entry(key, url, what=what)
        if stored.status in (404, 410):
            raise NotFoundError(
                f"{what}: not found (HTTP {stored.status}, from the evidence directory)",
                status=stored.status,
            )
        return HttpResponse(
            url=stored.url_for(url),
            status=stored.status,
            headers={"content-type": stored.content_type},
            content=self._evidence_body(stored, url, what=what),
        )

    def _evidence_entry(self, key: str, url: str, *, what: str) -> Stored:
        """The recorded response for ``url``; a missing or unusable entry is a ``NetworkError``.

        The evidence directory stands in for the network, so an entry it cannot give back is
        evidence that could not be obtained (UNVERIFIABLE), never a crash.
        """
        try:
            stored = self.evidence.read(key) if self.evidence is not None else None
        except UnreadableEntry as exc:
            raise NetworkError(
                f"{what}: the evidence directory's entry for {redact_url(url)} is unusable: {exc}",
                hint="record it again with `verify-release fetch --out DIR`",
            ) from None
        if stored is None:
            raise NetworkError(
                f"{what}: not in the evidence directory ({redact_url(url)})",
            )
        return stored

    def _evidence_body(self, stored: Stored, url: str, *, what: str) -> bytes:
        try:
            return stored.body()
        except UnreadableEntry as exc:
            raise NetworkError(
                f"{what}: the evidence directory's entry for {redact_url(url)} is unusable: {exc}",
                hint="record it again with `verify-release fetch --out DIR`",
            ) from None

    def _fetch(
        self,
        url: str,
        key: str,
        *,
        what: str,
        accept: str | None,
        max_bytes: int,
        token: Secret | None,
        extra_headers: Mapping[str, str] | None,
        cache: str,
        wait_on_rate_limit: bool = True,
    ) -> HttpResponse:
        headers = dict(extra_headers or {})
        if accept:
            headers["Accept"] = accept
        stored = self.cache.load(key) if (self.cache is not None and cache != "none") else None
        cached_body = _cached_body(stored) if stored is not None and stored.status == 200 else None
        if cached_body is None:
            # Absent, not a 200, or unreadable: a miss, fetched again without a validator.
            stored = None
        if stored is not None and cached_body is not None:
            if cache == "immutable" or stored.fresh():
                result = HttpResponse(
                    url=stored.url_for(url),
                    status=200,
                    headers={"content-type": stored.content_type},
                    content=cached_body,
                )
                self._record(key, result, None)
                return result
            if stored.etag:
                headers["If-None-Match"] = stored.etag
        sink = _MemorySink()
        try:
            final, status, response_headers = self._request(
                url,
                what=what,
                headers=headers,
                max_bytes=max_bytes,
                sink=sink,
                token=token,
                not_modified_ok=stored is not None and stored.etag is not None,
                wait_on_rate_limit=wait_on_rate_limit,
            )
        except NotFoundError as exc:
            if self.evidence is not None:
                self.evidence.save(
                    key,
                    url=url,
                    status=exc.status or 404,
                    content_type="",
                    etag=None,
                    cache_control=None,
                )
            raise
        if (
            status == 304
            and stored is not None
            and cached_body is not None
            and self.cache is not None
        ):
            self.cache.touch(key)
            result = HttpResponse(
                url=stored.url_for(url),
                status=200,
                headers={"content-type": stored.content_type},
                content=cached_body,
            )
        else:
            result = HttpResponse(
                url=final, status=status, headers=response_headers, content=sink.data()
            )
            reusable = cache == "immutable" or (
                cache == "revalidate"
                and (
                    response_headers.get("etag") is not None
                    or max_age(response_headers.get("cache-control")) is not None
                )
            )
            if self.cache is not None and reusable:
                # Without a validator or a max-age a stored page could never be reused: skip
                # the write instead of paying for it on every run.
                self._cache_save(
                    key,
                    url=final,
                    status=status,
                    content_type=result.content_type,
                    etag=response_headers.get("etag"),
                    cache_control=response_headers.get("cache-control"),
                    body=result.content,
                )
        self._record(key, result, response_headers.get("cache-control"))
        return result

    def _cache_save(self, key: str, **entry: Any) -> None:
        """Write a cache entry; a cache that cannot be written is only a slower run."""
        if self.cache is None:
            return
        try:
            self.cache.save(key, **entry)
        except UnwritableStore as exc:
            _logger.info("not cached: %s", exc)

    def _record(self, key: str, result: HttpResponse, cache_control: str | None) -> None:
        if self.evidence is not None and not self.replay:
            self.evidence.save(
                key,
                url=result.url,
                status=result.status,
                content_type=result.headers.get("content-type", ""),
                etag=None,
                cache_control=cache_control,
                body=result.content,
            )

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
        key = response_key(url, accept)
        if self.replay:
            stored = self._evidence_entry(key, url, what=what)
            if stored.status != 200:
                raise NetworkError(f"{what}: not in the evidence directory ({redact_url(url)})")
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    sink = _FileSink(handle)
                    try:
                        with stored.open_body() as source:
                            for block in iter(lambda: source.read(_CHUNK), b""):
                                sink.write(block)
                    except UnreadableEntry as exc:
                        raise NetworkError(
                            f"{what}: the evidence directory's entry for {redact_url(url)} is "
                            f"unusable: {exc}",
                            hint="record it again with `verify-release fetch --out DIR`",
                        ) from None
                os.replace(tmp_name, dest)
                return sink.hexdigest()
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                sink = _FileSink(handle)
                final, status, _ = self._request(
                    url,
                    what=what,
                    headers={"Accept": accept} if accept else {},
                    max_bytes=max_bytes,
                    sink=sink,
                    token=token,
                    cross_host_redirects=cross_host_redirects,
                    wait_on_rate_limit=wait_on_rate_limit,
                )
            os.replace(tmp_name, dest)
            if self.evidence is not None:
                self.evidence.save(
                    key,
                    url=final,
                    status=status,
                    content_type="",
                    etag=None,
                    cache_control=None,
                    body_file=dest,
                )
            return sink.hexdigest()
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    # -- internals -------------------------------------------------------------------------

    def _request(
        self,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str],
        max_bytes: int,
        sink: _Sink,
        token: Secret | None = None,
        cross_host_redirects: bool = False,
        not_modified_ok: bool = False,
        wait_on_rate_limit: bool = True,
    ) -> tuple[str, int, dict[str, str]]:
        import requests

        check_url(url)
        basic = _basic_auth(url)
        attempt = 0
        redirects = 0
        current = url
        while True:
            started = time.monotonic()
            hop_headers = {**_BASE_HEADERS, **headers}
            if basic is not None and _origin(current) == basic[0]:
                # URL credentials go to their own origin only: never to another host, port or
                # scheme a redirect points at.
                hop_headers["Authorization"] = basic[1]
            if token is not None and _same_origin_host(current, token.host):
                # The token goes to its own host only: never to a redirect target elsewhere.
                hop_headers["Authorization"] = f"Bearer {token.get()}"
            try:
                response = self.session.get(
                    _without_userinfo(current),
                    proxies=_proxies_for(current),
                    headers=hop_headers,
                    stream=True,
                    allow_redirects=False,
                    auth=_no_auth,
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                )
            except requests.exceptions.ConnectTimeout:
                raise NetworkError(
                    f"{what}: timed out connecting to {_host(current)} "
                    f"(connect timeout {self.config.connect_timeout:g}s)"
                ) from None
            except requests.exceptions.Timeout:
                raise NetworkError(
                    f"{what}: {_host(current)} sent no response "
                    f"(read timeout {self.config.read_timeout:g}s)"
                ) from None
            except requests.exceptions.RequestException as exc:
                if attempt < self.config.max_retries:
                    attempt += 1
                    self._sleep(self._backoff(attempt))
                    continue
                raise NetworkError(
                    f"{what}: cannot reach {_host(current)}: {_describe(exc)}"
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
                        _check_redirect(current, target, what=what, cross_host=cross_host_redirects)
                    except ValueError:
                        raise UpstreamError(
                            f"{what}: malformed redirect target {redact_url(location)!r} "
                            f"from {redact_url(current)}",
                            status=status,
                        ) from None
                    current = target
                    continue
                if not wait_on_rate_limit and _quota_spent(status, response.headers):
                    raise _rate_limit_error(what, status, current, response.headers)
                if _rate_limited(status, response.headers):
                    if attempt < self.config.max_retries:
                        delay = self._retry_delay(response.headers, attempt + 1)
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
                            continue
                    raise _give_up(what, status, current, attempt, response.headers)
                if status == 304 and not_modified_ok:
                    return current, status, {k.lower(): v for k, v in response.headers.items()}
                if status in (404, 410):
                    raise NotFoundError(
                        f"{what}: not found (HTTP {status} from {redact_url(current)})",
                        status=status,
                    )
                if status != 200:
                    raise UpstreamError(
                        f"{what}: unexpected HTTP {status} from {redact_url(current)}",
                        status=status,
                    )
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise UpstreamError(
                        f"{what}: response of {int(declared)} bytes from {redact_url(current)} "
                        f"exceeds the {max_bytes}-byte cap"
                    )
                self._read_body(
                    response,
                    what=what,
                    max_bytes=max_bytes,
                    sink=sink,
                    started=started,
                    url=current,
                )
                return current, status, {k.lower(): v for k, v in response.headers.items()}

    def _read_body(
        self,
        response: requests.Response,
        *,
        what: str,
        max_bytes: int,
        sink: _Sink,
        started: float,
        url: str,
    ) -> None:
        import requests
        import urllib3

        received = 0
        try:
            for chunk in _chunks(response):
                received += len(chunk)
                if received > max_bytes:
                    raise UpstreamError(
                        f"{what}: response from {redact_url(url)} exceeds the {max_bytes}-byte cap"
                    )
                if time.monotonic() - started > self.config.deadline:
                    raise NetworkError(
                        f"{what}: {_host(url)} did not finish sending within "
                        f"{self.config.deadline:g}s"
                    )
                sink.write(chunk)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            if _is_read_timeout(exc):
                raise NetworkError(
                    f"{what}: {_host(url)} stopped sending (read timeout "
                    f"{self.config.read_timeout:g}s)"
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

    def _backoff(self, attempt: int) -> float:
        return float(self.config.backoff * (2 ** (attempt - 1)))

    def _retry_delay(self, headers: Mapping[str, str], attempt: int) -> float | None:
        """The delay before retrying, or None when the server asks for more than we will wait."""
        value = headers.get("Retry-After")
        reset = headers.get("X-RateLimit-Reset")
        if value is None and headers.get("X-RateLimit-Remaining") == "0" and reset:
            if not reset.isdigit():
                return None
            value = str(max(0, int(reset) - int(time.time())))
        if value is None:
            return self._backoff(attempt)
        delay: float
        if value.strip().isdigit():
            delay = float(value.strip())
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return self._backoff(attempt)
            delay = max(0.0, when.timestamp() - time.time())
        if delay > self.config.max_retry_after:
            return None
        return delay


def _cached_body(stored: Stored) -> bytes | None:
    """A cache entry's body, or None when it cannot be read (the entry is then a miss)."""
    try:
        return stored.body()
    except UnreadableEntry:
        return None


class _Sink:
    def write(self, chunk: bytes) -> None:
        raise NotImplementedError


class _MemorySink(_Sink):
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        self._parts.append(chunk)

    def data(self) -> bytes:
        return b"".join(self._parts)


class _FileSink(_Sink):
    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self._hash.update(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The decoded body in pieces, each returned as soon as *some* bytes have arrived.

    ``iter_content`` blocks until a whole chunk is in, so a server dripping a byte at a time
    would hold one read for up to ``_CHUNK`` read timeouts and the deadline would never be
    checked; ``read1`` returns whatever one socket read produced.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # urllib3 < 2.3: no read1; fall back to whole chunks
        yield from response.iter_content(chunk_size=_CHUNK)
        return
    while True:
        chunk = read1(_CHUNK, decode_content=True)
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
            hint="set GITHUB_TOKEN for a higher GitHub API rate limit, or try again later",
        )
    return UpstreamError(
        f"{what}: HTTP {status} from {redact_url(url)} ({attempts})",
        status=status,
        hint="the service is failing or rate-limiting; try again later",
    )


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


def _describe(exc: BaseException) -> str:
    """A short, token-free, one-line description of a transport error."""
    text = str(exc)
    for marker in (
        "Name or service not known",
        "nodename nor servname",
        "Temporary failure in name resolution",
        "No address associated",
    ):
        if marker in text:
            return "DNS lookup failed"
    if "Connection refused" in text:
        return "connection refused"
    if "Connection reset" in text or "ConnectionResetError" in text:
        return "connection reset"
    if "RemoteDisconnected" in text or "closed connection without response" in text:
        return "the server closed the connection without answering"
    if "IncompleteRead" in text or "incomplete" in text.lower():
        return "connection closed before the body was complete"
    if "certificate verify failed" in text or "SSLError" in text or "SSL" in type(exc).__name__:
        return "TLS verification failed"
    return type(exc).__name__


def _is_read_timeout(exc: BaseException) -> bool:
    return "Read timed out" in str(exc)
