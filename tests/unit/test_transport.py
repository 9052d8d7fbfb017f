"""The layers of ``verifier.http``, each driven through an in-memory fake transport.

No socket and no wall time: the fake answers from a script and logs every request it was given,
the sleep is a list, the clock a constant. The loopback tests in ``test_http.py`` cover the real
transport; these pin down what each layer adds on top of it.
"""

from __future__ import annotations

import dataclasses
import http.client
import socket
import ssl
from pathlib import Path

import pytest
import requests
import urllib3

from verifier.errors import NetworkError, NotFoundError, RateLimitedError, UpstreamError
from verifier.retry import Retrying, RetryPolicy
from verifier.store import ResponseStore, response_key
from verifier.transport import (
    FileSink,
    Headers,
    MemorySink,
    Reply,
    Request,
    RequestsTransport,
    Sink,
    Unreachable,
    _describe,
    _is_read_timeout,
)
from verifier.wrappers import Caching, Recording, Replaying

URL = "https://index.example/simple/p/"
WHAT = "index page for p"
BACKOFF = 0.5
NOW = 4_000_000_000.0

Step = tuple[int, dict[str, str], bytes] | Exception


class FakeTransport:
    """Answers each fetch with the next scripted step and remembers the requests it saw."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[Request] = []

    def fetch(self, request: Request, sink: Sink) -> Reply:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        status, headers, body = step
        if status == 200:
            sink.write(body)
        return Reply(url=request.url, status=status, headers=Headers(headers))


def ok(body: bytes = b"page", **headers: str) -> Step:
    return (200, {"content-type": "text/html", **headers}, body)


def request(**changes: object) -> Request:
    return dataclasses.replace(Request(url=URL, what=WHAT, max_bytes=1000), **changes)  # type: ignore[arg-type]


@pytest.fixture
def sleeps() -> list[float]:
    return []


def retrying(fake: FakeTransport, sleeps: list[float], **policy: float) -> Retrying:
    settings = RetryPolicy(backoff=BACKOFF, clock=lambda: NOW, **policy)  # type: ignore[arg-type]
    return Retrying(fake, settings, sleep=sleeps.append)


def fetch(layer: Retrying | Caching | Recording | Replaying, req: Request) -> tuple[Reply, bytes]:
    sink = MemorySink()
    reply = layer.fetch(req, sink)
    return reply, sink.data()


# -- the retry policy ----------------------------------------------------------------------


def test_5xx_is_retried_with_backoff_until_an_answer(sleeps: list[float]) -> None:
    fake = FakeTransport((503, {}, b""), (502, {}, b""), ok(b"fine"))
    reply, body = fetch(retrying(fake, sleeps), request())
    assert (reply.status, body) == (200, b"fine")
    assert len(fake.requests) == 3
    assert sleeps == [BACKOFF, 2 * BACKOFF]


def test_a_spent_retry_budget_says_how_many_attempts_were_made(sleeps: list[float]) -> None:
    fake = FakeTransport(*[(503, {}, b"")] * 4)
    with pytest.raises(UpstreamError) as info:
        fetch(retrying(fake, sleeps), request())
    assert str(info.value) == f"{WHAT}: HTTP 503 from {URL} (after 4 attempts)"
    assert info.value.status == 503
    assert len(fake.requests) == 4
    assert sleeps == [BACKOFF, 2 * BACKOFF, 4 * BACKOFF]


def test_retry_after_is_honoured_with_the_injected_sleep(sleeps: list[float]) -> None:
    fake = FakeTransport((429, {"Retry-After": "7"}, b""), ok())
    reply, _ = fetch(retrying(fake, sleeps), request())
    assert reply.status == 200
    assert sleeps == [7.0]


def test_a_rate_limit_reset_is_waited_for_by_the_injected_clock(sleeps: list[float]) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 5)}
    fake = FakeTransport((403, headers, b""), ok())
    fetch(retrying(fake, sleeps), request())
    assert sleeps == [5.0]


def test_a_retry_after_beyond_the_ceiling_is_not_waited_for(sleeps: list[float]) -> None:
    fake = FakeTransport((429, {"Retry-After": "3600"}, b""), ok())
    with pytest.raises(UpstreamError) as info:
        fetch(retrying(fake, sleeps, max_retry_after=60.0), request())
    assert str(info.value) == f"{WHAT}: HTTP 429 from {URL} (after 1 attempt)"
    assert (len(fake.requests), sleeps) == (1, [])


def test_a_spent_quota_raises_at_once_when_the_caller_will_not_wait(sleeps: list[float]) -> None:
    fake = FakeTransport((429, {}, b""), ok())
    with pytest.raises(RateLimitedError) as info:
        fetch(retrying(fake, sleeps), request(wait_on_rate_limit=False))
    assert str(info.value) == (
        f"{WHAT}: rate limited by index.example (HTTP 429): the remaining requests are not "
        "stated; the reset time is not stated"
    )
    assert (len(fake.requests), sleeps) == (1, [])


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (404, NotFoundError, f"{WHAT}: not found (HTTP 404 from {URL})"),
        (410, NotFoundError, f"{WHAT}: not found (HTTP 410 from {URL})"),
        (400, UpstreamError, f"{WHAT}: unexpected HTTP 400 from {URL}"),
        (403, UpstreamError, f"{WHAT}: unexpected HTTP 403 from {URL}"),
        (304, UpstreamError, f"{WHAT}: unexpected HTTP 304 from {URL}"),
    ],
)
def test_a_4xx_is_final_and_never_retried(
    sleeps: list[float], status: int, error: type[Exception], message: str
) -> None:
    fake = FakeTransport((status, {}, b""), ok())
    with pytest.raises(error) as info:
        fetch(retrying(fake, sleeps), request())
    assert str(info.value) == message
    assert (len(fake.requests), sleeps) == (1, [])


def test_an_unreachable_host_is_retried_where_the_attempt_stopped(sleeps: list[float]) -> None:
    target = "https://index.example/elsewhere/p/"
    fake = FakeTransport(Unreachable("x", url=target, redirects=2), ok())
    fetch(retrying(fake, sleeps), request())
    resumed = fake.requests[1]
    assert (resumed.url, resumed.first_url, resumed.redirects) == (target, URL, 2)
    assert sleeps == [BACKOFF]


def test_an_unreachable_host_is_reported_once_the_budget_is_spent(sleeps: list[float]) -> None:
    failure = Unreachable(
        f"{WHAT}: cannot reach index.example: connection refused", url=URL, redirects=0
    )
    fake = FakeTransport(*[failure] * 4)
    with pytest.raises(NetworkError) as info:
        fetch(retrying(fake, sleeps), request())
    assert str(info.value) == f"{WHAT}: cannot reach index.example: connection refused"
    assert len(fake.requests) == 4


def test_a_timeout_is_not_retried(sleeps: list[float]) -> None:
    fake = FakeTransport(NetworkError(f"{WHAT}: index.example sent no response"), ok())
    with pytest.raises(NetworkError):
        fetch(retrying(fake, sleeps), request())
    assert (len(fake.requests), sleeps) == (1, [])


# -- the cache -----------------------------------------------------------------------------


def test_a_304_is_served_from_the_cache(tmp_path: Path) -> None:
    fake = FakeTransport(ok(b"cached page", etag='"v1"'), (304, {}, b""))
    cache = Caching(fake, ResponseStore(tmp_path))
    first = fetch(cache, request(cache="revalidate"))
    reply, body = fetch(cache, request(cache="revalidate"))
    assert (reply.status, body, reply.url) == (200, b"cached page", URL)
    assert reply.headers["Content-Type"] == "text/html"
    assert first[1] == b"cached page"
    assert "If-None-Match" not in fake.requests[0].headers
    assert fake.requests[1].headers["If-None-Match"] == '"v1"'
    assert fake.requests[1].not_modified_ok


def test_a_changed_page_replaces_the_cached_one(tmp_path: Path) -> None:
    fake = FakeTransport(ok(b"old", etag='"v1"'), ok(b"new", etag='"v2"'), (304, {}, b""))
    cache = Caching(fake, ResponseStore(tmp_path))
    for _ in range(2):
        fetch(cache, request(cache="revalidate"))
    assert fetch(cache, request(cache="revalidate"))[1] == b"new"
    assert fake.requests[2].headers["If-None-Match"] == '"v2"'


def test_an_immutable_entry_is_never_requested_again(tmp_path: Path) -> None:
    fake = FakeTransport(ok(b"provenance"))
    cache = Caching(fake, ResponseStore(tmp_path))
    for _ in range(3):
        assert fetch(cache, request(cache="immutable"))[1] == b"provenance"
    assert len(fake.requests) == 1


def test_a_page_without_validator_or_max_age_is_not_stored(tmp_path: Path) -> None:
    fake = FakeTransport(ok(b"one"), ok(b"two"))
    cache = Caching(fake, ResponseStore(tmp_path))
    fetch(cache, request(cache="revalidate"))
    assert fetch(cache, request(cache="revalidate"))[1] == b"two"
    assert not list(tmp_path.rglob("*.entry"))


def test_an_uncached_request_passes_through(tmp_path: Path) -> None:
    fake = FakeTransport(ok(b"one", etag='"v1"'), ok(b"two", etag='"v1"'))
    cache = Caching(fake, ResponseStore(tmp_path))
    fetch(cache, request())
    assert fetch(cache, request())[1] == b"two"
    assert "If-None-Match" not in fake.requests[1].headers


# -- evidence: record, then replay ---------------------------------------------------------


def test_record_then_replay_round_trip(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path)
    gone = "https://index.example/simple/gone/"
    fake = FakeTransport(ok(b"page body"), NotFoundError(f"{WHAT}: not found", status=410))
    recorder = Recording(fake, store)
    recorded = fetch(recorder, request(accept="text/html"))
    with pytest.raises(NotFoundError):
        fetch(recorder, request(url=gone))

    replay = Replaying(store)
    reply, body = fetch(replay, request(accept="text/html"))
    assert (reply.url, reply.status, body) == (URL, 200, b"page body")
    assert reply.headers["content-type"] == recorded[0].headers["content-type"] == "text/html"
    with pytest.raises(NotFoundError) as info:
        fetch(replay, request(url=gone))
    assert str(info.value) == f"{WHAT}: not found (HTTP 410, from the evidence directory)"


def test_a_download_is_recorded_from_its_file_and_replayed_into_one(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "evidence")
    body = b"\x00wheel bytes" * 1000
    fake = FakeTransport((200, {}, body))
    part = tmp_path / "part"
    with part.open("wb") as handle:
        written = FileSink(handle, part)
        Recording(fake, store).fetch(request(download=True, max_bytes=10**6), written)
    again = tmp_path / "again"
    with again.open("wb") as handle:
        replayed = FileSink(handle, again)
        Replaying(store).fetch(request(download=True, max_bytes=10**6), replayed)
    assert again.read_bytes() == body
    assert replayed.hexdigest() == written.hexdigest()


def test_replay_of_a_missing_entry_is_a_network_error(tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as info:
        fetch(Replaying(ResponseStore(tmp_path)), request())
    assert str(info.value) == f"{WHAT}: not in the evidence directory ({URL})"


def test_replay_names_an_entry_recorded_by_an_older_version_and_never_reads_it(
    tmp_path: Path,
) -> None:
    # Format 2 kept KEY.json (metadata) and KEY.body: such a directory is recorded again, and
    # its files, however they read, are never served.
    key = response_key(URL, None)
    (tmp_path / key[:2]).mkdir()
    (tmp_path / key[:2] / f"{key}.json").write_text('{"status": 200}')
    (tmp_path / key[:2] / f"{key}.body").write_bytes(b"an old body")
    with pytest.raises(NetworkError) as info:
        fetch(Replaying(ResponseStore(tmp_path)), request())
    assert str(info.value) == (
        f"{WHAT}: the evidence directory holds it in an older verify-release's format, which "
        f"this version does not read ({URL})"
    )
    assert info.value.hint == "record it again with `verify-release fetch --out DIR`"


def test_replay_of_an_unusable_body_is_a_network_error(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path)
    Recording(FakeTransport(ok()), store).fetch(request(), MemorySink())
    key = response_key(URL, None)
    entry = tmp_path / key[:2] / f"{key}.entry"
    entry.write_bytes(entry.read_bytes().split(b"\n", 1)[0])  # cut short after its format line
    with pytest.raises(NetworkError) as info:
        fetch(Replaying(store), request())
    assert str(info.value) == (
        f"{WHAT}: the evidence directory's entry for {URL} is unusable: entry is not a "
        "'verify-release response store 3' entry"
    )
    assert info.value.hint == "record it again with `verify-release fetch --out DIR`"


# -- transport errors, by type --------------------------------------------------------------


def _wrapped(cause: BaseException) -> requests.exceptions.ConnectionError:
    """A transport error as requests raises it: the real cause nested inside urllib3's."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise urllib3.exceptions.NewConnectionError(None, "failed") from exc  # type: ignore[arg-type]
    except urllib3.exceptions.NewConnectionError as inner:
        retry = urllib3.exceptions.MaxRetryError(None, "/", reason=inner)  # type: ignore[arg-type]
        return requests.exceptions.ConnectionError(retry)


@pytest.mark.parametrize(
    ("cause", "described"),
    [
        (socket.gaierror(-2, "whatever the resolver says"), "DNS lookup failed"),
        (ConnectionRefusedError(111, "in any language"), "connection refused"),
        (ConnectionResetError(104, "x"), "connection reset"),
        (http.client.RemoteDisconnected("x"), "the server closed the connection without answering"),
        (http.client.IncompleteRead(b"ab", 10), "connection closed before the body was complete"),
        (ssl.SSLCertVerificationError(1, "x"), "TLS verification failed"),
        (
            http.client.LineTooLong("header line"),
            "the server sent a malformed status line or headers",
        ),
        (http.client.BadStatusLine("junk"), "the server sent a malformed status line or headers"),
        (
            http.client.HTTPException("got more than 100 headers"),
            "the server sent a malformed status line or headers",
        ),
        (OSError("Connection refused, says a hostile message"), "ConnectionError"),
    ],
)
def test_transport_errors_are_described_by_type_not_text(
    cause: BaseException, described: str
) -> None:
    assert _describe(_wrapped(cause)) == described
    # The direct transport raises the cause itself: the same type gives the same words.
    assert _describe(cause) == (described if described != "ConnectionError" else "OSError")


def test_a_read_timeout_is_recognised_by_type() -> None:
    timeout = urllib3.exceptions.ReadTimeoutError(None, "/", "anything")  # type: ignore[arg-type]
    assert _is_read_timeout(requests.exceptions.ConnectionError(timeout))
    assert not _is_read_timeout(urllib3.exceptions.ProtocolError("Read timed out."))


def test_replay_without_an_evidence_directory_finds_nothing() -> None:
    with pytest.raises(NetworkError) as info:
        fetch(Replaying(None), request())
    assert str(info.value) == f"{WHAT}: not in the evidence directory ({URL})"


def test_a_rate_limit_given_up_on_names_no_github_token_for_another_host(
    sleeps: list[float],
) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 3600)}
    fake = FakeTransport((429, headers, b""), ok())
    with pytest.raises(UpstreamError) as info:
        fetch(retrying(fake, sleeps, max_retry_after=60.0), request())
    assert "rate limited by index.example (HTTP 429, after 1 attempt)" in str(info.value)
    assert info.value.hint == (
        "the server limits how often it may be asked; run again after the reset"
    )
    assert "GITHUB_TOKEN" not in (info.value.hint or "")


@pytest.mark.parametrize("before_session", [True, False])
def test_the_pool_size_reaches_every_adapter_whenever_the_session_is_built(
    before_session: bool,
) -> None:
    """Sized before the session exists (a run that may fetch nothing), or after."""
    transport = RequestsTransport()
    if not before_session:
        assert transport.session is not None
    transport.pool_size(7)
    for prefix in ("https://host.example/", "http://host.example/"):
        adapter = transport.session.get_adapter(prefix)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        assert vars(adapter)["_pool_maxsize"] == 7
        assert vars(adapter)["_pool_connections"] == 7
        assert adapter.max_retries.total == 0
    transport.close()
