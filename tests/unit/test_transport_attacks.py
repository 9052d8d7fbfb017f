"""DirectTransport against a hostile server: the holes a red team found after the speed pass.

Each test failed on the first version of the transport: a forged next answer riding in the
same TLS record as a body, a 1xx answer leaving its final answer for the next request, and a
server holding a request past the deadline before its first body byte.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit import test_transport_direct as direct
from tests.unit.test_transport_direct import CONFIG, WHAT, RawServer, ok
from verifier.errors import NetworkError, UpstreamError
from verifier.http import HttpClient, HttpConfig

# The hostile-server fixtures of the direct transport's own tests.
clients = direct.clients
no_proxies_or_bundles = direct.no_proxies_or_bundles
raw_servers = direct.raw_servers
serve = direct.serve
tls = direct.tls


# -- keep-alive desync over TLS ------------------------------------------------------------------


def test_bytes_past_a_body_inside_one_tls_record_are_not_read_as_the_next_answer(
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 200 whose body is followed, in the same TLS record, by a forged second response.

    ``_still_open`` asks ``select`` whether the socket is readable; bytes OpenSSL already
    decrypted (``SSLSocket.pending()``) are invisible to it, so the connection is pooled and
    the next request (another URL: another file's provenance) is answered by the forgery.
    """
    context, ca = tls("localhost")
    first = b"A" * 9000  # past http.client's 8 KiB read buffer: the rest is read exactly
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"

    def script(n: int) -> tuple[bytes, bool]:
        # One sendall of < 16 KiB is one TLS record: the forged answer rides in it.
        return (ok(first) + smuggled, False) if n == 0 else (ok(b"second"), False)

    srv = serve(script, tls=context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    http = clients("direct")
    assert http.get(srv.url("/a", scheme="https", host="localhost"), what=WHAT).content == first
    second = http.get(srv.url("/b", scheme="https", host="localhost"), what=WHAT)
    assert second.content == b"second"


# -- 1xx answers --------------------------------------------------------------------------------


def _one_shot_server(handler: Callable[[socket.socket], None]) -> tuple[int, Callable[[], None]]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                handler(conn)
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop() -> None:
        listener.close()
        thread.join(timeout=10.0)

    return port, stop


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data.partition(b"\r\n\r\n")[0]


def test_an_early_hints_answer_does_not_leave_its_final_answer_for_the_next_request(
    clients: Callable[..., HttpClient],
) -> None:
    """103 Early Hints, then (as Early Hints is meant to be used) the final 200 a moment later.

    http.client skips only 100 Continue: a 103 comes back as the response, with length 0, so
    ``_DirectAnswer`` pools the connection. The 200 that follows is then read as the answer to
    the next request on that connection: /b is answered with /a's body.
    """
    seen: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        seen.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        time.sleep(0.3)
        conn.sendall(ok(b"body of /a"))
        seen.append(_read_request(conn))
        conn.sendall(ok(b"body of /b"))
        time.sleep(0.5)

    port, stop = _one_shot_server(handler)
    http = clients("direct")
    try:
        with pytest.raises((UpstreamError, NetworkError)):
            http.get(f"http://127.0.0.1:{port}/a", what=WHAT)
        answer = None
        with contextlib.suppress(UpstreamError, NetworkError):
            answer = http.get(f"http://127.0.0.1:{port}/b", what=WHAT).content
    finally:
        stop()
    assert answer != b"body of /a", "the answer to /a was read as the answer to /b"


# -- the deadline outside the body loop -----------------------------------------------------------


def _drip_server(
    head: bytes, drip: bytes, tail: bytes, seconds: float
) -> tuple[int, Callable[[], None]]:
    """Send ``head``, then ``drip`` every 50 ms for ``seconds``, then ``tail``."""

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(head)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.sendall(drip)
            time.sleep(0.05)
        conn.sendall(tail)
        time.sleep(0.2)

    return _one_shot_server(handler)


SLOW = HttpConfig(connect_timeout=2.0, read_timeout=2.0, deadline=0.5, max_retries=0)


@pytest.mark.parametrize(
    ("head", "drip", "tail"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n",
            b"X-Trailer: x\r\n",
            b"\r\n",
            id="endless-chunked-trailer",
        ),
        pytest.param(
            b"",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
            id="endless-100-continue",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n",
            b"X",
            b": y\r\nContent-Length: 4\r\n\r\nbody",
            id="header-slowloris",
        ),
    ],
)
def test_the_deadline_holds_before_the_first_body_byte(
    head: bytes, drip: bytes, tail: bytes, clients: Callable[..., HttpClient]
) -> None:
    """A server that keeps each read under the read timeout but never gets to the body.

    The deadline is checked only between body pieces (``_HopTransport.fetch``); the status
    line, headers, 1xx answers and chunk trailers are read inside ``getresponse``/``read1``
    where only the per-read timeout applies, so the wall clock is unbounded (here 4 s
    against a 0.5 s deadline; a real attacker keeps it up for hours).
    """
    port, stop = _drip_server(head, drip, tail, seconds=4.0)
    assert_held_to_the_deadline(lambda: http_get(clients, port), stop)


def assert_held_to_the_deadline(fetch: Callable[[], bytes], stop: Callable[[], None]) -> None:
    """``fetch`` (under ``SLOW``'s 0.5 s deadline) fails as late, well within 2 s, however its
    server drips; the server is stopped first, whatever happens."""
    started = time.monotonic()
    outcome: object = None
    try:
        try:
            outcome = fetch()
        except (NetworkError, UpstreamError) as exc:
            outcome = exc
    finally:
        elapsed = time.monotonic() - started
        stop()
    assert elapsed < 2.0, f"a 0.5 s deadline held for {elapsed:.1f} s (outcome {outcome!r})"
    assert isinstance(outcome, NetworkError)


def http_get(clients: Callable[..., HttpClient], port: int) -> bytes:
    return clients("direct", SLOW).get(f"http://127.0.0.1:{port}/", what=WHAT).content


def test_a_desynced_answer_is_not_signed_into_the_cache_under_another_url(
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    serve: Callable[..., RawServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The same desync, with the cache on: the forged answer to /b is stored with this user's
    MAC under /b's key, and served from then on without asking the server again."""
    from verifier.store import ResponseStore

    context, ca = tls("localhost")
    smuggled = b'HTTP/1.1 200 OK\r\nContent-Length: 8\r\nETag: "x"\r\n\r\nsmuggled'

    def script(n: int) -> tuple[bytes, bool]:
        return (ok(b"A" * 9000) + smuggled, False) if n == 0 else (ok(b"second"), False)

    srv = serve(script, tls=context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    store = ResponseStore(tmp_path / "cache", mac_key=b"k" * 32)
    b_url = srv.url("/b", scheme="https", host="localhost")
    first = HttpClient(CONFIG, sleep=lambda _: None, cache=store)
    try:
        first.get(srv.url("/a", scheme="https", host="localhost"), what=WHAT, cache="immutable")
        first.get(b_url, what=WHAT, cache="immutable")
    finally:
        first.close()
    later = HttpClient(CONFIG, sleep=lambda _: None, cache=store)
    try:
        assert later.get(b_url, what=WHAT, cache="immutable").content == b"second"
    finally:
        later.close()
