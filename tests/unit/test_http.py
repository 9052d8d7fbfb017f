"""The hostile-network matrix for ``HttpClient``, against real sockets on 127.0.0.1.

Nothing here mocks ``requests``: every case is a real server misbehaving in one way (see
``tests/servers.py``), and the assertions are on the exact messages a user would read.
Retry and Retry-After delays are recorded through the injected ``sleep`` instead of slept.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from tests.servers import LoopbackServer, Route
from verifier.errors import NetworkError, NotFoundError, RefusedURL, UpstreamError
from verifier.http import (
    MAX_REDIRECTS,
    USER_AGENT,
    HttpClient,
    HttpConfig,
    HttpResponse,
    check_url,
    is_loopback_host,
    redact_url,
)
from verifier.store import ResponseStore
from verifier.transport import DirectTransport, RequestsTransport
from verifier.urls import redact_urls

READ_TIMEOUT = 0.5
BACKOFF = 0.01
CONFIG = HttpConfig(connect_timeout=1.0, read_timeout=READ_TIMEOUT, deadline=3.0, backoff=BACKOFF)
WHAT = "test body"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture(params=["direct", "requests"])
def client(sleeps: list[float], request: pytest.FixtureRequest) -> Iterator[HttpClient]:
    """A client on each transport: both are held to every rule below."""
    http = HttpClient(CONFIG, sleep=sleeps.append)
    if request.param == "requests":
        http.transport = RequestsTransport(CONFIG.limits())
    try:
        yield http
    finally:
        http.close()


@pytest.fixture
def other_server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    try:
        yield srv
    finally:
        srv.close()


def host(server: LoopbackServer) -> str:
    return f"127.0.0.1:{server.port}"


class ScriptedServer:
    """Accepts one connection and writes a script of (bytes, delay-before) pieces to it.

    For what ``LoopbackServer`` cannot do: drip a body a byte at a time, or send it chunked.
    """

    def __init__(self, pieces: list[tuple[bytes, float]]) -> None:
        self._pieces = pieces
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(5.0)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(65536)
                for data, delay in self._pieces:
                    if delay and self._stop.wait(delay):
                        return
                    conn.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5.0)


def head(extra: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{extra}\r\n".encode()


# -- success ------------------------------------------------------------------------------------


def test_200_returns_body_status_headers_and_final_url(
    client: HttpClient, server: LoopbackServer
) -> None:
    server.route("/x", Route(body=b"hello", content_type="text/plain", headers={"X-Thing": "1"}))
    response = client.get(server.url + "/x", what=WHAT)
    assert response.status == 200
    assert response.content == b"hello"
    assert response.url == server.url + "/x"
    assert response.headers["x-thing"] == "1"
    assert response.content_type == "text/plain"


def test_sends_user_agent_and_accept(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"{}"))
    client.get(server.url + "/x", what=WHAT, accept="application/json")
    [request] = server.requests
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept"] == "application/json"


def test_gzip_body_within_the_cap_is_decoded(client: HttpClient, server: LoopbackServer) -> None:
    body = b"abc" * 10_000
    server.route("/x", Route(body=body, gzip_body=True))
    assert client.get(server.url + "/x", what=WHAT, max_bytes=len(body)).content == body


def test_chunked_body_is_read_whole(client: HttpClient) -> None:
    pieces = [(head("Transfer-Encoding: chunked\r\n"), 0.0)]
    pieces += [(b"5\r\nhello\r\n", 0.05), (b"6\r\n world\r\n", 0.05), (b"0\r\n\r\n", 0.0)]
    scripted = ScriptedServer(pieces)
    try:
        assert client.get(scripted.url, what=WHAT).content == b"hello world"
    finally:
        scripted.close()


def test_session_is_recreated_after_close(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"ok"))
    assert client.get(server.url + "/x", what=WHAT).content == b"ok"
    client.close()
    client.close()
    assert client.get(server.url + "/x", what=WHAT).content == b"ok"


# -- status codes and retries -------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_are_not_found(client: HttpClient, server: LoopbackServer, status: int) -> None:
    server.route("/gone", Route(status=status))
    with pytest.raises(NotFoundError) as info:
        client.get(server.url + "/gone", what=WHAT)
    assert str(info.value) == f"test body: not found (HTTP {status} from {server.url}/gone)"
    assert info.value.status == status
    assert server.routes["/gone"].hits == 1


def test_unknown_path_is_not_found(client: HttpClient, server: LoopbackServer) -> None:
    with pytest.raises(NotFoundError, match=r"^test body: not found \(HTTP 404 from "):
        client.get(server.url + "/nothing-here", what=WHAT)


def test_unexpected_status_is_not_retried(client: HttpClient, server: LoopbackServer) -> None:
    route = server.route("/x", Route(status=403, body=b"no"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/x", what=WHAT)
    assert str(info.value) == f"test body: unexpected HTTP 403 from {server.url}/x"
    assert info.value.status == 403
    assert route.hits == 1


def test_500_twice_then_200_succeeds_on_the_third_hit(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    route = server.route("/x", Route(body=b"finally", fail_first=2, fail_status=500))
    assert client.get(server.url + "/x", what=WHAT).content == b"finally"
    assert route.hits == 3
    assert sleeps == [BACKOFF, 2 * BACKOFF]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_storm_gives_up_naming_status_and_attempts(
    client: HttpClient, server: LoopbackServer, sleeps: list[float], status: int
) -> None:
    route = server.route("/x", Route(body=b"never", fail_first=100, fail_status=status))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/x", what=WHAT)
    assert str(info.value) == f"test body: HTTP {status} from {server.url}/x (after 4 attempts)"
    assert info.value.hint == "the service is failing or rate-limiting; try again later"
    assert info.value.status == status
    assert route.hits == 4
    assert sleeps == [BACKOFF, 2 * BACKOFF, 4 * BACKOFF]


def test_no_retries_configured_means_one_attempt(server: LoopbackServer) -> None:
    route = server.route("/x", Route(fail_first=100))
    sleeps: list[float] = []
    http = HttpClient(HttpConfig(read_timeout=READ_TIMEOUT, max_retries=0), sleep=sleeps.append)
    try:
        with pytest.raises(UpstreamError, match=r"HTTP 500 from .* \(after 1 attempt\)$"):
            http.get(server.url + "/x", what=WHAT)
    finally:
        http.close()
    assert route.hits == 1
    assert sleeps == []


def test_429_with_retry_after_seconds_waits_that_long(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    route = server.route("/x", Route(body=b"ok", fail_first=1, fail_status=429, retry_after="2"))
    assert client.get(server.url + "/x", what=WHAT).content == b"ok"
    assert sleeps == [2.0]
    assert route.hits == 2


def test_retry_after_http_date_in_the_past_retries_at_once(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    past = email.utils.format_datetime(datetime.now(timezone.utc) - timedelta(minutes=5), True)
    server.route("/x", Route(body=b"ok", fail_first=1, fail_status=503, retry_after=past))
    assert client.get(server.url + "/x", what=WHAT).content == b"ok"
    assert sleeps == [0.0]


def test_retry_after_http_date_in_the_future_is_honoured(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    soon = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), True)
    server.route("/x", Route(body=b"ok", fail_first=1, fail_status=503, retry_after=soon))
    assert client.get(server.url + "/x", what=WHAT).content == b"ok"
    [delay] = sleeps
    assert 25.0 < delay <= 30.0


def test_unparseable_retry_after_falls_back_to_backoff(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    server.route("/x", Route(body=b"ok", fail_first=1, fail_status=429, retry_after="soon-ish"))
    assert client.get(server.url + "/x", what=WHAT).content == b"ok"
    assert sleeps == [BACKOFF]


def test_retry_after_above_the_ceiling_gives_up_at_once(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    route = server.route("/x", Route(fail_first=100, fail_status=429, retry_after="3600"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/x", what=WHAT)
    assert str(info.value) == f"test body: HTTP 429 from {server.url}/x (after 1 attempt)"
    assert info.value.status == 429
    assert route.hits == 1
    assert sleeps == []


def test_retry_after_ceiling_is_configurable(server: LoopbackServer) -> None:
    route = server.route("/x", Route(fail_first=100, fail_status=503, retry_after="2"))
    sleeps: list[float] = []
    http = HttpClient(
        HttpConfig(read_timeout=READ_TIMEOUT, max_retry_after=1.0), sleep=sleeps.append
    )
    try:
        with pytest.raises(UpstreamError, match=r"HTTP 503 from .* \(after 1 attempt\)$"):
            http.get(server.url + "/x", what=WHAT)
    finally:
        http.close()
    assert route.hits == 1
    assert sleeps == []


# -- stalls, deadlines, truncation, resets ------------------------------------------------------


def test_stall_before_headers_is_a_read_timeout(client: HttpClient, server: LoopbackServer) -> None:
    route = server.route("/x", Route(body=b"late", stall_before=1.5))
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        client.get(server.url + "/x", what=WHAT)
    elapsed = time.monotonic() - started
    assert str(info.value) == f"test body: {host(server)} sent no response (read timeout 0.5s)"
    assert elapsed < 1.4
    assert route.hits == 1


def test_stall_mid_body_is_a_read_timeout(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"x" * 1000, stall_after_bytes=100, stall_for=1.5))
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        client.get(server.url + "/x", what=WHAT)
    assert str(info.value) == f"test body: {host(server)} stopped sending (read timeout 0.5s)"
    assert time.monotonic() - started < 1.4


def test_stall_mid_download_leaves_nothing(
    client: HttpClient, server: LoopbackServer, tmp_path: Path
) -> None:
    server.route("/f", Route(body=b"x" * 1000, stall_after_bytes=100, stall_for=1.5))
    dest = tmp_path / "f.whl"
    with pytest.raises(NetworkError, match=r"stopped sending \(read timeout 0\.5s\)$"):
        client.download(server.url + "/f", dest, what=WHAT)
    assert list(tmp_path.iterdir()) == []


def test_dripping_server_is_cut_off_at_the_deadline() -> None:
    # One byte every 0.1 s never trips the 2 s read timeout; only the deadline stops it.
    pieces = [(head("Content-Length: 200\r\n"), 0.0)] + [(b"x", 0.1)] * 200
    scripted = ScriptedServer(pieces)
    http = HttpClient(HttpConfig(read_timeout=2.0, deadline=0.5), sleep=lambda _: None)
    started = time.monotonic()
    try:
        with pytest.raises(NetworkError) as info:
            http.get(scripted.url, what=WHAT)
    finally:
        http.close()
        scripted.close()
    assert (
        str(info.value)
        == f"test body: 127.0.0.1:{scripted.port} did not finish sending within 0.5s"
    )
    assert time.monotonic() - started < 1.5


def test_slow_but_steady_body_within_the_deadline_arrives(client: HttpClient) -> None:
    pieces = [(head("Content-Length: 5\r\n"), 0.0)] + [(b"x", 0.05)] * 5
    scripted = ScriptedServer(pieces)
    try:
        assert client.get(scripted.url, what=WHAT).content == b"xxxxx"
    finally:
        scripted.close()


def test_truncated_body_is_a_network_error(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"x" * 100, declared_length=1000))
    with pytest.raises(NetworkError) as info:
        client.get(server.url + "/x", what=WHAT)
    assert str(info.value) == (
        f"test body: transfer from {host(server)} broke off: "
        "connection closed before the body was complete"
    )


def test_connection_reset_is_retried_then_a_network_error(
    client: HttpClient, server: LoopbackServer, sleeps: list[float]
) -> None:
    route = server.route("/x", Route(reset=True))
    with pytest.raises(NetworkError) as info:
        client.get(server.url + "/x", what=WHAT)
    assert str(info.value) == (
        f"test body: cannot reach {host(server)}: "
        "the server closed the connection without answering"
    )
    assert route.hits == 4
    assert sleeps == [BACKOFF, 2 * BACKOFF, 4 * BACKOFF]


def test_connection_refused_is_retried_then_a_network_error(
    client: HttpClient, sleeps: list[float]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = int(probe.getsockname()[1])
    with pytest.raises(NetworkError) as info:
        client.get(f"http://127.0.0.1:{port}/x", what=WHAT)
    assert str(info.value) == f"test body: cannot reach 127.0.0.1:{port}: connection refused"
    assert len(sleeps) == 3


# -- size caps ----------------------------------------------------------------------------------


def test_content_length_over_the_cap_is_refused_before_reading(
    client: HttpClient, server: LoopbackServer
) -> None:
    # The server sends headers and then stalls: reading any body would hit the read timeout.
    server.route("/x", Route(body=b"x" * 2000, stall_after_bytes=0, stall_for=1.5))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/x", what=WHAT, max_bytes=1000)
    assert str(info.value) == (
        f"test body: response of 2000 bytes from {server.url}/x exceeds the 1000-byte cap"
    )
    assert time.monotonic() - started < READ_TIMEOUT


def test_huge_declared_length_is_refused(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"tiny", declared_length=10**12))
    with pytest.raises(UpstreamError, match=r"response of 1000000000000 bytes from .* exceeds the"):
        client.get(server.url + "/x", what=WHAT)


def test_body_exactly_at_the_cap_is_accepted(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"x" * 1000))
    assert len(client.get(server.url + "/x", what=WHAT, max_bytes=1000).content) == 1000


def test_gzip_bomb_is_cut_off_at_the_cap_on_decoded_bytes(
    client: HttpClient, server: LoopbackServer
) -> None:
    route = server.route("/x", Route(body=b"\0" * (5 * 1024 * 1024), gzip_body=True))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/x", what=WHAT, max_bytes=1024 * 1024)
    assert str(info.value) == (
        f"test body: response from {server.url}/x exceeds the 1048576-byte cap"
    )
    assert route.hits == 1


def test_gzip_bomb_download_leaves_nothing(
    client: HttpClient, server: LoopbackServer, tmp_path: Path
) -> None:
    server.route("/f", Route(body=b"\0" * (5 * 1024 * 1024), gzip_body=True))
    dest = tmp_path / "f.tar.gz"
    with pytest.raises(UpstreamError, match=r"exceeds the 1048576-byte cap$"):
        client.download(server.url + "/f", dest, what=WHAT, max_bytes=1024 * 1024)
    assert list(tmp_path.iterdir()) == []


def test_body_over_the_cap_without_content_length_is_cut_off(client: HttpClient) -> None:
    # No Content-Length, no chunking: the body runs until the server closes the connection.
    pieces = [(head("Connection: close\r\n"), 0.0), (b"x" * 5000, 0.0)]
    scripted = ScriptedServer(pieces)
    try:
        with pytest.raises(UpstreamError, match=r"response from .* exceeds the 1000-byte cap$"):
            client.get(scripted.url, what=WHAT, max_bytes=1000)
    finally:
        scripted.close()


# -- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("absolute", [False, True])
def test_redirect_to_the_same_host_is_followed(
    client: HttpClient, server: LoopbackServer, absolute: bool
) -> None:
    target = (server.url if absolute else "") + "/b"
    server.route("/a", Route(redirect_to=target))
    server.route("/b", Route(body=b"moved"))
    response = client.get(server.url + "/a", what=WHAT)
    assert response.content == b"moved"
    assert response.url == server.url + "/b"
    assert server.paths_requested() == ["/a", "/b"]


def test_redirect_to_another_port_is_refused_without_contacting_it(
    client: HttpClient, server: LoopbackServer, other_server: LoopbackServer
) -> None:
    other_server.route("/stolen", Route(body=b"elsewhere"))
    server.route("/a", Route(redirect_to=other_server.url + "/stolen"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/a", what=WHAT)
    assert str(info.value) == (
        f"test body: refusing a redirect from {host(server)} to another host ({host(other_server)})"
    )
    assert other_server.requests == []


def test_redirect_from_ip_to_localhost_is_another_host(
    client: HttpClient, server: LoopbackServer
) -> None:
    server.route("/a", Route(redirect_to=f"http://localhost:{server.port}/b"))
    server.route("/b", Route(body=b"x"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/a", what=WHAT)
    assert str(info.value) == (
        f"test body: refusing a redirect from {host(server)} to another host "
        f"(localhost:{server.port})"
    )
    assert server.paths_requested() == ["/a"]


def test_redirect_loop_is_cut_off(client: HttpClient, server: LoopbackServer) -> None:
    route = server.route("/loop", Route(redirect_to="/loop"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/loop", what=WHAT)
    assert str(info.value) == (
        f"test body: too many redirects or a redirect without a target from {server.url}/loop"
    )
    assert info.value.status == 302
    assert route.hits == MAX_REDIRECTS + 1


def test_redirect_chain_at_the_limit_is_followed(
    client: HttpClient, server: LoopbackServer
) -> None:
    for step in range(MAX_REDIRECTS):
        server.route(f"/r{step}", Route(redirect_to=f"/r{step + 1}"))
    server.route(f"/r{MAX_REDIRECTS}", Route(body=b"end"))
    assert client.get(server.url + "/r0", what=WHAT).content == b"end"


def test_redirect_to_another_scheme_on_the_same_host_is_refused(
    client: HttpClient, server: LoopbackServer
) -> None:
    server.route("/a", Route(redirect_to=f"ftp://127.0.0.1:{server.port}/b"))
    # A redirect target is the server's answer, not the user's input: UpstreamError, not usage.
    with pytest.raises(
        UpstreamError, match=r"^test body: refusing a redirect: refusing to fetch 'ftp://127"
    ):
        client.get(server.url + "/a", what=WHAT)
    assert server.paths_requested() == ["/a"]


def test_redirect_to_an_out_of_range_port_is_an_upstream_error(
    client: HttpClient, server: LoopbackServer
) -> None:
    server.route("/a", Route(redirect_to="http://127.0.0.1:99999/b"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/a", what=WHAT)
    assert str(info.value) == (
        f"test body: malformed redirect target 'http://127.0.0.1:99999/b' from {server.url}/a"
    )
    assert info.value.status == 302


def test_redirect_to_an_unparseable_url_is_an_upstream_error(
    client: HttpClient, server: LoopbackServer
) -> None:
    # requests itself trips over this Location before our code sees the response (and so
    # cannot say which target); the direct transport leaves it to the redirect loop.
    server.route("/a", Route(redirect_to="http://[::1/b"))
    with pytest.raises(UpstreamError) as info:
        client.get(server.url + "/a", what=WHAT)
    if isinstance(client.transport, DirectTransport):
        expected = f"test body: malformed redirect target 'http://[::1/b' from {server.url}/a"
    else:
        expected = f"test body: malformed redirect target from {server.url}/a"
    assert str(info.value) == expected


# -- URL rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://pypi.org/simple/",
        "https://example.com/x",
        "http://127.0.0.1/x",
        "http://127.0.0.1:8080/simple/",
        "http://127.1.2.3/x",
        "http://[::1]/x",
        "http://[::1]:8080/x",
        "http://localhost/x",
        "http://LOCALHOST:3141/root/pypi/",
    ],
)
def test_check_url_allows_https_and_loopback_http(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x",
        "http://pypi.org/simple/",
        "http://127.0.0.1.example.com/x",
        "http://localhost.example.com/x",
        "http://10.0.0.1/x",
        "http://[::2]/x",
        "ftp://127.0.0.1/x",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "https:///no-host",
        "//example.com/x",
        "example.com/x",
        "",
    ],
)
def test_check_url_refuses_everything_else(url: str) -> None:
    with pytest.raises(RefusedURL) as info:
        check_url(url)
    assert str(info.value) == (
        f"refusing to fetch {url!r}: only https URLs (or http to a loopback address) are allowed"
    )
    assert info.value.hint == "use an https:// index URL"


@pytest.mark.parametrize("url", ["https://[::1/x", "https://example.com:99999/x", "https://h:x/"])
def test_check_url_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(RefusedURL) as info:
        check_url(url)
    assert str(info.value) == f"refusing to fetch {url!r}: not a valid URL"


def test_check_url_message_hides_credentials() -> None:
    with pytest.raises(RefusedURL) as info:
        check_url("http://user:hunter2@example.com/simple/")
    assert "hunter2" not in info.value.diagnostics()
    assert "'http://***@example.com/simple/'" in str(info.value)


def test_initial_url_is_checked_before_any_request(client: HttpClient) -> None:
    with pytest.raises(RefusedURL, match=r"^refusing to fetch 'http://example\.invalid/x'"):
        client.get("http://example.invalid/x", what=WHAT)


@pytest.mark.parametrize(
    ("host_name", "expected"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("192.168.1.1", False),
        ("example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host_name: str | None, expected: bool) -> None:
    assert is_loopback_host(host_name) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:secret@host.example/p?q=1", "https://***@host.example/p?q=1"),
        (
            "https://host.example/asset?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&x=1#f",
            "https://host.example/asset?X-Amz-Signature=***&X-Amz-Credential=***&x=1#f",
        ),
        (
            "https://h.example/f?token=t1;access_token=t2&sig=s&key=k&password=p&api_key=a",
            "https://h.example/f?token=***;access_token=***&sig=***&key=***&password=***"
            "&api_key=***",
        ),
        ("https://h.example/f?%74oken=t", "https://h.example/f?%74oken=***"),
        (
            "https://h.example/cb#access_token=t&state=1",
            "https://h.example/cb#access_token=***&state=1",
        ),
        ("https://h.example/f.whl#sha256=abc", "https://h.example/f.whl#sha256=abc"),
        (
            "git+https://u:p@h.example/r.git?rev=v1#egg=x",
            "git+https://***@h.example/r.git?rev=v1#egg=x",
        ),
        ("https://user:secret@host.example:8443/p", "https://***@host.example:8443/p"),
        ("https://__token__@host.example/simple/", "https://***@host.example/simple/"),
        ("https://:secret@host.example/", "https://***@host.example/"),
        ("https://u:p@q@host.example/", "https://***@host.example/"),
        ("http://u:p@[::1]:8080/x", "http://***@[::1]:8080/x"),
        ("https://u:p@host.example:99999/x", "https://***@host.example:99999/x"),
        ("https://u:p@[::1/x", "https://***@[::1/x"),
        ("https://host.example/a@b", "https://host.example/a@b"),
        ("https://pypi.org/simple/", "https://pypi.org/simple/"),
        ("./local/path", "./local/path"),
    ],
)
def test_redact_url_hides_userinfo_and_secret_parameters(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_urls_finds_urls_inside_text() -> None:
    text = (
        "download of x.whl: not found (HTTP 404 from http://user:s3cr3t@127.0.0.1:1/f?sig=zz). "
        "see 'https://a:b@h.example/p', \"git+https://u:p@h.example/r\""
    )
    assert redact_urls(text) == (
        "download of x.whl: not found (HTTP 404 from http://***@127.0.0.1:1/f?sig=***). "
        "see 'https://***@h.example/p', \"git+https://***@h.example/r\""
    )


def test_error_messages_never_show_url_credentials(
    client: HttpClient, server: LoopbackServer
) -> None:
    url = f"http://user:hunter2@127.0.0.1:{server.port}/missing"
    with pytest.raises(NotFoundError) as info:
        client.get(url, what=WHAT)
    assert str(info.value) == (
        f"test body: not found (HTTP 404 from http://***@127.0.0.1:{server.port}/missing)"
    )


@given(st.text())
def test_redact_url_and_check_url_never_crash(url: str) -> None:
    redacted = redact_url(url)
    assert isinstance(redacted, str)
    assert isinstance(redact_urls(url), str)
    try:
        checked = check_url(url)
    except RefusedURL as exc:
        message = str(exc)
    else:
        assert checked == url
        return
    assert message.startswith("refusing to fetch ")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!$&'()*+,;=~-._%", min_size=1))
def test_redacted_url_never_contains_the_password(password: str) -> None:
    url = f"https://user:{password}@host.example/simple/"
    assert redact_url(url) == "https://***@host.example/simple/"
    assert (
        redact_urls(f"from {url} (HTTP 500)") == "from https://***@host.example/simple/ (HTTP 500)"
    )


def test_url_credentials_are_sent_as_basic_auth_to_their_own_origin_only(
    client: HttpClient, server: LoopbackServer, other_server: LoopbackServer, tmp_path: Path
) -> None:
    """A private index URL (user:password@) authenticates; a redirect elsewhere gets nothing."""
    other_server.route("/elsewhere", Route(body=b"ok"))
    server.route("/page", Route(body=b"page"))
    server.route("/away", Route(redirect_to=f"{other_server.url}/elsewhere"))
    base = f"http://user:s%40cr3t@127.0.0.1:{server.port}"
    assert client.get(f"{base}/page", what=WHAT).content == b"page"
    client.download(f"{base}/away", tmp_path / "f", what=WHAT, cross_host_redirects=True)
    # base64("user:s@cr3t"): the password is percent-decoded before it is sent.
    assert [r.headers.get("Authorization") for r in server.requests] == [
        "Basic dXNlcjpzQGNyM3Q=",
        "Basic dXNlcjpzQGNyM3Q=",
    ]
    assert all("@" not in r.path for r in server.requests)
    assert [r.headers.get("Authorization") for r in other_server.requests] == [None]


def test_stored_responses_hold_no_url_credentials_and_still_replay(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """Cache and evidence metadata are redacted; the entries are still found and replayed."""
    server.route("/simple/p/", Route(body=b"{}", headers={"Cache-Control": "max-age=600"}))
    url = f"http://user:s3cr3t@127.0.0.1:{server.port}/simple/p/"
    cache, evidence = ResponseStore(tmp_path / "cache"), ResponseStore(tmp_path / "evidence")
    recording = HttpClient(CONFIG, cache=cache, evidence=evidence)
    assert recording.get(url, what=WHAT, cache="revalidate").content == b"{}"
    assert recording.get(url, what=WHAT, cache="revalidate").url == url  # a cache hit
    assert len(server.requests) == 1
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    # One file per entry, nothing else (no lock file).
    assert sorted(p.relative_to(tmp_path).parts[0] for p in stored) == ["cache", "evidence"]
    assert all(p.name.endswith(".entry") for p in stored)
    assert not [p for p in stored if b"s3cr3t" in p.read_bytes()]
    replaying = HttpClient(CONFIG, evidence=evidence, replay=True)
    replayed = replaying.get(url, what=WHAT)
    assert (replayed.url, replayed.content) == (url, b"{}")


# -- content types and JSON ---------------------------------------------------------------------


def test_content_type_with_parameters_is_accepted(
    client: HttpClient, server: LoopbackServer
) -> None:
    server.route("/x", Route(body=b"{}", content_type="Application/JSON; charset=utf-8"))
    response = client.get(server.url + "/x", what=WHAT, content_types=("application/json",))
    assert response.content_type == "application/json"


def test_unexpected_content_type_is_refused(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"<html>", content_type="text/html"))
    with pytest.raises(UpstreamError) as info:
        client.get(
            server.url + "/x",
            what=WHAT,
            content_types=("application/vnd.pypi.simple.v1+json", "application/json"),
        )
    assert str(info.value) == (
        f"test body from {server.url}/x has content type 'text/html', expected one of "
        "application/vnd.pypi.simple.v1+json, application/json"
    )


def test_missing_content_type_is_refused(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=b"{}", content_type=""))
    with pytest.raises(UpstreamError, match=r"has content type '\(none\)', expected one of a/b$"):
        client.get(server.url + "/x", what=WHAT, content_types=("a/b",))


def test_content_type_is_not_checked_when_not_asked(
    client: HttpClient, server: LoopbackServer
) -> None:
    server.route("/x", Route(body=b"<html>", content_type="text/html"))
    assert client.get(server.url + "/x", what=WHAT).content == b"<html>"


def response_with(content: bytes) -> HttpResponse:
    return HttpResponse(
        url="https://user:pw@index.example/simple/x/", status=200, headers={}, content=content
    )


def test_json_decodes_a_valid_body(client: HttpClient, server: LoopbackServer) -> None:
    server.route("/x", Route(body=json.dumps({"a": [1, "é"]}).encode()))
    assert client.get(server.url + "/x", what=WHAT).json(what=WHAT) == {"a": [1, "é"]}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            b'{"a": "\xff"}',
            "'utf-8' codec can't decode byte 0xff in position 7: invalid start byte",
        ),
        (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b"{} []", "Extra data: line 1 column 4 (char 3)"),
        (b"[" * 100_000, "maximum recursion depth exceeded"),
        (b"1" * 5000, "Exceeds the limit (4300 digits) for integer string conversion"),
    ],
)
def test_json_on_a_bad_body_is_an_upstream_error_naming_what(content: bytes, detail: str) -> None:
    with pytest.raises(UpstreamError) as info:
        response_with(content).json(what="index page for x")
    message = str(info.value)
    assert message.startswith(
        "index page for x from https://***@index.example/simple/x/ is not valid JSON: "
    )
    assert detail in message
    assert "pw@" not in message


def test_content_type_property_normalises() -> None:
    response = HttpResponse(
        url="https://h/", status=200, headers={"content-type": " Text/HTML ; q=1"}, content=b""
    )
    assert response.content_type == "text/html"
    assert response_with(b"").content_type == ""


# -- download -----------------------------------------------------------------------------------


def test_download_writes_the_file_and_returns_its_sha256(
    client: HttpClient, server: LoopbackServer, tmp_path: Path
) -> None:
    body = os.urandom(200_000)
    server.route("/f", Route(body=body))
    dest = tmp_path / "deep" / "er" / "pkg-1.0.tar.gz"
    digest = client.download(server.url + "/f", dest, what=WHAT)
    assert digest == hashlib.sha256(body).hexdigest()
    assert dest.read_bytes() == body
    assert [p.name for p in dest.parent.iterdir()] == ["pkg-1.0.tar.gz"]


def test_download_digest_is_of_the_decoded_body(
    client: HttpClient, server: LoopbackServer, tmp_path: Path
) -> None:
    body = b"plain text " * 1000
    server.route("/f", Route(body=body, gzip_body=True))
    digest = client.download(server.url + "/f", tmp_path / "f", what=WHAT)
    assert digest == hashlib.sha256(body).hexdigest()
    assert (tmp_path / "f").read_bytes() == body


@pytest.mark.parametrize(
    ("route", "error", "fragment"),
    [
        (Route(body=b"x" * 100, declared_length=1000), NetworkError, "broke off"),
        (Route(fail_first=100), UpstreamError, "HTTP 500"),
        (Route(status=404), NotFoundError, "not found"),
        (Route(body=b"x" * 5000), UpstreamError, "exceeds the 1000-byte cap"),
        (Route(reset=True), NetworkError, "cannot reach"),
    ],
)
def test_failed_download_leaves_no_file_and_no_partial(
    client: HttpClient,
    server: LoopbackServer,
    tmp_path: Path,
    route: Route,
    error: type[Exception],
    fragment: str,
) -> None:
    server.route("/f", route)
    dest = tmp_path / "pkg-1.0.tar.gz"
    with pytest.raises(error, match=fragment):
        client.download(server.url + "/f", dest, what=WHAT, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_failed_download_keeps_an_existing_file_intact(
    client: HttpClient, server: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "pkg-1.0.tar.gz"
    dest.write_bytes(b"previous good copy")
    server.route("/f", Route(body=b"x" * 100, declared_length=1000))
    with pytest.raises(NetworkError):
        client.download(server.url + "/f", dest, what=WHAT)
    assert dest.read_bytes() == b"previous good copy"
    assert [p.name for p in tmp_path.iterdir()] == ["pkg-1.0.tar.gz"]


def test_successful_download_replaces_an_existing_file(
    client: HttpClient, server: LoopbackServer, tmp_path: Path
) -> None:
    dest = tmp_path / "pkg-1.0.tar.gz"
    dest.write_bytes(b"stale")
    server.route("/f", Route(body=b"fresh"))
    client.download(server.url + "/f", dest, what=WHAT)
    assert dest.read_bytes() == b"fresh"
    assert [p.name for p in tmp_path.iterdir()] == ["pkg-1.0.tar.gz"]


# -- credentials --------------------------------------------------------------------------------


def test_netrc_credentials_are_never_sent(
    client: HttpClient,
    server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("netrc-home")
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login alice password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NETRC", str(netrc))
    server.route("/x", Route(body=b"ok"))
    server.route("/a", Route(redirect_to="/x"))

    # Control: plain requests with the same environment does send the netrc credentials.
    with requests.Session() as plain:
        plain.get(server.url + "/x", timeout=READ_TIMEOUT).close()
    assert "Authorization" in server.requests[0].headers

    client.get(server.url + "/a", what=WHAT)
    client.download(server.url + "/x", tmp_path / "f", what=WHAT)
    ours = server.requests[1:]
    assert [r.path for r in ours] == ["/a", "/x", "/x"]
    for request in ours:
        assert "Authorization" not in request.headers


def test_a_replayed_redirect_keeps_the_credentials_for_its_own_host(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """Relative file URLs resolve against the final page URL: it must still authenticate."""
    server.route("/simple/p/", Route(redirect_to="/simple/p/new/"))
    server.route("/simple/p/new/", Route(body=b"{}"))
    url = f"http://user:s3cr3t@127.0.0.1:{server.port}/simple/p/"
    evidence = ResponseStore(tmp_path)
    assert HttpClient(CONFIG, evidence=evidence).get(url, what=WHAT).url == url + "new/"
    replayed = HttpClient(CONFIG, evidence=evidence, replay=True).get(url, what=WHAT)
    assert replayed.url == url + "new/"
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and b"s3cr3t" in p.read_bytes()]
