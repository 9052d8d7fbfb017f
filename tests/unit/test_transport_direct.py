"""The hand-written transport (``DirectTransport``) against hostile servers on real sockets.

What requests and urllib3 used to give for free is held here: TLS verification against a
throwaway CA, bounded decompression, header floods, the keep-alive pool and its one retry of a
connection the server closed, and the proxy hand-off. Where a rule belongs to both transports
the test runs on both. Counts come from the servers' own logs, never from wall time.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import LoopbackServer, Route
from verifier.errors import NetworkError, RefusedURL, UpstreamError
from verifier.http import HttpClient, HttpConfig
from verifier.secrets import Secret
from verifier.transport import (
    DirectTransport,
    MemorySink,
    Request,
    RequestsTransport,
    _proxies_for_origin,
    check_url,
)

CONFIG = HttpConfig(connect_timeout=2.0, read_timeout=2.0, deadline=5.0, max_retries=0)
WHAT = "test body"
TRANSPORTS = ["direct", "requests"]

Script = Callable[[int], tuple[bytes, bool]]
"""Request number (0-based, over the server's life) -> (bytes to send, close afterwards)."""


def ok(body: bytes, *headers: str) -> bytes:
    """A keep-alive 200 with ``body`` and extra header lines."""
    extra = "".join(f"{h}\r\n" for h in headers)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n{extra}"
    return head.encode() + b"\r\n" + body


class RawServer:
    """A keep-alive server that answers each request from a script and counts connections.

    ``LoopbackServer`` (http.server) cannot close a kept-alive connection at a chosen moment,
    speak TLS, or send a malformed head; this one writes whatever bytes the script says.
    """

    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None) -> None:
        self._script = script
        self._tls = tls
        self._lock = threading.Lock()
        self.connections = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def url(self, path: str = "/x", *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        conn = raw
        try:
            conn.settimeout(5.0)
            if self._tls is not None:
                conn = self._tls.wrap_socket(raw, server_side=True)
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                with self._lock:
                    number = len(self.requests)
                    self.requests.append(head)
                answer, close = self._script(number)
                if answer:
                    conn.sendall(answer)
                if close:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self._threads:
            thread.join(timeout=5.0)


@pytest.fixture
def raw_servers() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for srv in servers:
        srv.close()


@pytest.fixture
def serve(raw_servers: list[RawServer]) -> Callable[..., RawServer]:
    def start(script: Script, *, tls: ssl.SSLContext | None = None) -> RawServer:
        srv = RawServer(script, tls=tls)
        raw_servers.append(srv)
        return srv

    return start


@pytest.fixture
def clients() -> Iterator[Callable[..., HttpClient]]:
    made: list[HttpClient] = []

    def make(kind: str = "direct", config: HttpConfig = CONFIG) -> HttpClient:
        http = HttpClient(config, sleep=lambda _: None)
        if kind == "requests":
            http.transport = RequestsTransport(config.limits())
        made.append(http)
        return http

    yield make
    for http in made:
        http.close()


@pytest.fixture(autouse=True)
def no_proxies_or_bundles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    _proxies_for_origin.cache_clear()
    yield
    _proxies_for_origin.cache_clear()


# -- TLS with a throwaway CA -------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str, issuer_key: ec.EllipticCurvePrivateKey, issuer: str, *, ca: bool, sans: list[str]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in sans]
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    signer = key if ca else issuer_key
    return builder.sign(signer, hashes.SHA256()), key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def tls(tmp_path: Path) -> Callable[[str], tuple[ssl.SSLContext, Path]]:
    """A server context whose leaf names ``dns_name``, and the PEM file of the CA that signed it."""

    def make(dns_name: str) -> tuple[ssl.SSLContext, Path]:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca, ca_key = _certificate("throwaway CA", ca_key, "throwaway CA", ca=True, sans=[])
        leaf, leaf_key = _certificate(dns_name, ca_key, "throwaway CA", ca=False, sans=[dns_name])
        (tmp_path / "ca.pem").write_bytes(_pem(ca))
        (tmp_path / "leaf.pem").write_bytes(_pem(leaf) + _pem(ca))
        (tmp_path / "leaf.key").write_bytes(
            leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
        return context, tmp_path / "ca.pem"

    return make


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_https_is_verified_against_the_bundle_the_environment_names(
    kind: str,
    variable: str,
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context, ca = tls("localhost")
    srv = serve(lambda n: (ok(b"secure"), False), tls=context)
    monkeypatch.setenv(variable, str(ca))
    http = clients(kind)
    for _ in range(2):
        response = http.get(srv.url(scheme="https", host="localhost"), what=WHAT)
        assert response.content == b"secure"
    # Kept alive across requests, TLS and all.
    assert (srv.connections, len(srv.requests)) == (1, 2)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_an_unknown_ca_is_refused_before_any_request(
    kind: str,
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
) -> None:
    context, _ = tls("localhost")
    srv = serve(lambda n: (ok(b"secure"), False), tls=context)
    with pytest.raises(NetworkError) as info:
        clients(kind).get(srv.url(scheme="https", host="localhost"), what=WHAT)
    assert (
        str(info.value) == f"test body: cannot reach localhost:{srv.port}: TLS verification failed"
    )
    assert srv.requests == []


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_certificate_for_another_hostname_is_refused(
    kind: str,
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context, ca = tls("other.example")
    srv = serve(lambda n: (ok(b"secure"), False), tls=context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    with pytest.raises(NetworkError) as info:
        clients(kind).get(srv.url(scheme="https", host="localhost"), what=WHAT)
    assert (
        str(info.value) == f"test body: cannot reach localhost:{srv.port}: TLS verification failed"
    )
    assert srv.requests == []


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("content", [None, b"not a certificate"], ids=["missing", "garbage"])
def test_an_unusable_ca_bundle_is_an_error_never_a_fallback(
    kind: str,
    content: bytes | None,
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    context, _ = tls("localhost")
    srv = serve(lambda n: (ok(b"secure"), False), tls=context)
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_bytes(content)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with pytest.raises(NetworkError) as info:
        clients(kind).get(srv.url(scheme="https", host="localhost"), what=WHAT)
    reason = "FileNotFoundError" if content is None else "SSLError"
    assert str(info.value) == (
        f"test body: cannot load the CA bundle {bundle} (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE): "
        f"{reason}"
    )
    assert srv.connections == 0


# -- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, no zlib header
        ("gzip", lambda b: gzip.compress(b[:10]) + gzip.compress(b[10:])),  # two members
    ],
    ids=["gzip", "x-gzip", "deflate", "raw deflate", "two gzip members"],
)
def test_compressed_bodies_are_decoded(
    encoding: str,
    encode: Callable[[bytes], bytes],
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
) -> None:
    body = b"0123456789abcdef" * 5000
    srv = serve(lambda n: (ok(encode(body), f"Content-Encoding: {encoding}"), False))
    assert clients("direct").get(srv.url(), what=WHAT).content == body
    [head] = srv.requests
    assert b"\r\nAccept-Encoding: gzip, deflate\r\n" in head


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_a_deflate_or_gzip_bomb_stops_at_the_cap(
    encoding: str, serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    bomb = b"\0" * (64 * 1024 * 1024)
    packed = gzip.compress(bomb) if encoding == "gzip" else zlib.compress(bomb)
    srv = serve(lambda n: (ok(packed, f"Content-Encoding: {encoding}"), False))
    with pytest.raises(UpstreamError) as info:
        clients("direct").get(srv.url(), what=WHAT, max_bytes=100_000)
    assert str(info.value) == f"test body: response from {srv.url()} exceeds the 100000-byte cap"


def test_a_compressed_drip_that_decodes_to_nothing_still_hits_the_deadline(
    clients: Callable[..., HttpClient],
) -> None:
    """Empty stored deflate blocks decode to no bytes at all: the deadline must still count."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
                + b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
            )
            while not stop.wait(0.05):
                try:
                    conn.sendall(b"\x00\x00\x00\xff\xff")  # a stored block of no bytes
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    config = HttpConfig(read_timeout=2.0, deadline=0.5, max_retries=0)
    try:
        with pytest.raises(NetworkError) as info:
            clients("direct", config).get(f"http://127.0.0.1:{port}/", what=WHAT)
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5.0)
    assert str(info.value) == f"test body: 127.0.0.1:{port} did not finish sending within 0.5s"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress", "x" * 100])
def test_an_encoding_we_do_not_decode_is_refused_not_passed_through(
    encoding: str, serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"opaque", f"Content-Encoding: {encoding}"), False))
    with pytest.raises(UpstreamError) as info:
        clients("direct").get(srv.url(), what=WHAT)
    assert str(info.value) == (
        f"test body: response from {srv.url()} has an unsupported content encoding "
        f"{encoding[:40]!r}"
    )


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(b"x" * 1000)[:-12]),  # cut before the end of the stream
        ("deflate", zlib.compress(b"x" * 1000)[:-3]),
        ("deflate", zlib.compress(b"x") + b"trailing"),
    ],
    ids=["not compressed", "gzip cut short", "deflate cut short", "data after the stream"],
)
def test_a_broken_compressed_body_is_an_upstream_error(
    encoding: str,
    body: bytes,
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
) -> None:
    srv = serve(lambda n: (ok(body, f"Content-Encoding: {encoding}"), False))
    with pytest.raises(UpstreamError) as info:
        clients("direct").get(srv.url(), what=WHAT)
    assert str(info.value) == f"test body: response from {srv.url()} is not valid {encoding} data"


# -- malformed answers -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70_000,
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["header flood", "long header line", "endless header line", "bad status line"],
)
def test_a_malformed_head_is_an_unreachable_host_not_a_crash(
    kind: str,
    answer: bytes,
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
) -> None:
    srv = serve(lambda n: (answer, True))
    with pytest.raises(NetworkError) as info:
        clients(kind).get(srv.url(), what=WHAT)
    assert str(info.value) == (
        f"test body: cannot reach 127.0.0.1:{srv.port}: "
        "the server sent a malformed status line or headers"
    )


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_repeated_headers_are_joined_as_requests_joins_them(
    kind: str, serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"x", "X-Thing: 1", "x-thing: 2"), False))
    assert clients(kind).get(srv.url(), what=WHAT).headers["X-Thing"] == "1, 2"


def test_a_body_longer_than_declared_never_leaks_into_the_next_answer(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"

    def script(n: int) -> tuple[bytes, bool]:
        return (ok(b"first") + smuggled, False) if n == 0 else (ok(b"second"), False)

    srv = serve(script)
    http = clients("direct")
    assert http.get(srv.url(), what=WHAT).content == b"first"
    assert http.get(srv.url(), what=WHAT).content == b"second"
    assert len(srv.requests) == 2


# -- the keep-alive pool -----------------------------------------------------------------------


def test_requests_to_one_origin_share_one_connection(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"page %d" % n), False))
    http = clients("direct")
    assert [http.get(srv.url(), what=WHAT).content for _ in range(5)] == [
        b"page %d" % n for n in range(5)
    ]
    assert (srv.connections, len(srv.requests)) == (1, 5)


def test_a_connection_the_server_asked_to_close_is_not_reused(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"bye", "Connection: close"), True))
    http = clients("direct")
    for _ in range(3):
        assert http.get(srv.url(), what=WHAT).content == b"bye"
    assert (srv.connections, len(srv.requests)) == (3, 3)


def test_an_answer_not_read_whole_closes_its_connection(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    """A 404 with a body is not read, so its connection cannot carry the next request; a 304
    (no body) leaves it clean."""
    answers = [
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
        b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
    ]

    def script(n: int) -> tuple[bytes, bool]:
        return (answers[n], False) if n < 2 else (ok(b"page"), False)

    srv = serve(script)
    http = clients("direct")
    with pytest.raises(UpstreamError):
        http.get(srv.url(), what=WHAT)
    transport = http.transport
    assert isinstance(transport, DirectTransport)
    reply = transport.fetch(Request(url=srv.url(), what=WHAT, max_bytes=10), MemorySink())
    assert reply.status == 304
    assert http.get(srv.url(), what=WHAT).content == b"page"
    assert (srv.connections, len(srv.requests)) == (2, 3)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_kept_connection_the_server_dropped_is_retried_once_on_a_new_one(
    scheme: str,
    serve: Callable[..., RawServer],
    clients: Callable[..., HttpClient],
    tls: Callable[[str], tuple[ssl.SSLContext, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second request arrives on the kept connection, which the server closes unanswered
    # (as a server that timed out the idle connection does); the third is the one retry.
    def script(n: int) -> tuple[bytes, bool]:
        return (b"", True) if n == 1 else (ok(b"page %d" % n), False)

    context = None
    if scheme == "https":
        context, ca = tls("localhost")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    srv = serve(script, tls=context)
    url = srv.url(scheme=scheme, host="localhost")
    http = clients("direct")
    assert http.get(url, what=WHAT).content == b"page 0"
    assert http.get(url, what=WHAT).content == b"page 2"
    assert (srv.connections, len(srv.requests)) == (2, 3)


def test_the_stale_connection_retry_happens_once_never_more(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"page"), False) if n == 0 else (b"", True))
    http = clients("direct")
    assert http.get(srv.url(), what=WHAT).content == b"page"
    with pytest.raises(NetworkError) as info:
        http.get(srv.url(), what=WHAT)
    assert str(info.value) == (
        f"test body: cannot reach 127.0.0.1:{srv.port}: "
        "the server closed the connection without answering"
    )
    # One retry on a new connection, and none after it (the client's own retries are off).
    assert (srv.connections, len(srv.requests)) == (2, 3)


def test_a_connection_dropped_before_the_request_is_not_reused(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    # The server closes after answering (without saying so): the pool sees it before reuse.
    srv = serve(lambda n: (ok(b"page"), True))
    http = clients("direct")
    assert http.get(srv.url(), what=WHAT).content == b"page"
    srv_closed = threading.Event()
    while not srv_closed.wait(0.01):
        if srv._threads and not srv._threads[0].is_alive():
            srv_closed.set()
    assert http.get(srv.url(), what=WHAT).content == b"page"
    assert (srv.connections, len(srv.requests)) == (2, 2)


def test_the_pool_keeps_at_most_pool_size_idle_connections(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    both_in = threading.Barrier(3, timeout=5.0)

    def script(n: int) -> tuple[bytes, bool]:
        if n < 3:
            both_in.wait()  # three requests in flight at once: three connections
        return ok(b"page"), False

    srv = serve(script)
    http = clients("direct")
    # The transport's own limit: HttpClient.pool_size would also let only two requests out at
    # once (verifier.gate), and this test needs three connections open together.
    http.transport.pool_size(2)
    threads = [
        threading.Thread(target=http.get, args=(srv.url(),), kwargs={"what": WHAT})
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10.0)
    transport = http.transport
    assert isinstance(transport, DirectTransport)
    assert [len(v) for v in transport._idle.values()] == [2]
    assert srv.connections == 3


# -- credentials and the request line ----------------------------------------------------------


def test_credentials_travel_in_a_header_never_in_the_request_line(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"page"), False))
    url = f"http://user:s3cr3t@127.0.0.1:{srv.port}/simple/p/?q=a b"
    clients("direct").get(url, what=WHAT)
    [head] = srv.requests
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /simple/p/?q=a%20b HTTP/1.1"
    assert b"Authorization: Basic dXNlcjpzM2NyM3Q=" in lines
    assert b"s3cr3t" not in lines[0]
    assert not [line for line in lines if line.lower().startswith((b"cookie", b"proxy"))]


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_cookies_are_never_sent_back(
    kind: str, serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"page", "Set-Cookie: session=abc"), False))
    http = clients(kind)
    http.get(srv.url(), what=WHAT)
    http.get(srv.url(), what=WHAT)
    assert not [h for h in srv.requests if b"session=abc" in h]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/a\r\nX-Injected: 1",
        "http://127.0.0.1:{port}/a\nb",
        "http://127.0.0.1:{port}/a\x00b",
        "http://127.0.0.1:{port}/a\tb",
    ],
)
def test_control_characters_in_a_url_are_refused_before_any_request(
    url: str, serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"page"), False))
    with pytest.raises(RefusedURL) as info:
        clients("direct").get(url.format(port=srv.port), what=WHAT)
    assert str(info.value).endswith(": not a valid URL")
    with pytest.raises(RefusedURL):
        check_url(url.format(port=srv.port))
    assert srv.requests == []


def test_a_token_that_cannot_be_sent_is_refused_without_showing_it(
    serve: Callable[..., RawServer], clients: Callable[..., HttpClient]
) -> None:
    srv = serve(lambda n: (ok(b"page"), False))
    token = Secret("ghp_s3cr3t\r\nX-Injected: 1", host=f"127.0.0.1:{srv.port}")
    with pytest.raises(UpstreamError) as info:
        clients("direct").get(srv.url(), what=WHAT, token=token)
    assert str(info.value) == (
        f"test body: refusing to send a malformed request header to 127.0.0.1:{srv.port}"
    )
    assert "s3cr3t" not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert srv.requests == []


# -- proxies: handed to requests ---------------------------------------------------------------


def test_a_url_the_environment_proxies_goes_through_the_proxy(
    server: LoopbackServer,
    clients: Callable[..., HttpClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = LoopbackServer()
    try:
        target = f"{server.url}/via"
        proxy.route(target, Route(body=b"proxied"))
        server.route("/via", Route(body=b"direct"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        http = clients("direct")
        assert http.get(target, what=WHAT).content == b"proxied"
        assert (len(proxy.requests), len(server.requests)) == (1, 0)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        _proxies_for_origin.cache_clear()
        assert http.get(target, what=WHAT).content == b"direct"
        assert (len(proxy.requests), len(server.requests)) == (1, 1)
    finally:
        proxy.close()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_name_that_does_not_resolve_is_a_dns_failure(
    kind: str, clients: Callable[..., HttpClient]
) -> None:
    with pytest.raises(NetworkError) as info:
        clients(kind).get("https://nonexistent.invalid/simple/", what=WHAT)
    assert str(info.value) == "test body: cannot reach nonexistent.invalid: DNS lookup failed"


def test_the_default_transport_never_imports_requests(server: LoopbackServer) -> None:
    """requests and urllib3 cost ~0.1 s to import: without a proxy they are never loaded."""
    server.route("/p", Route(body=b"{}", gzip_body=True))
    code = (
        "import sys\n"
        "from verifier.http import HttpClient\n"
        f"HttpClient().get({server.url + '/p'!r}, what='x')\n"
        "print(sorted(m for m in ('requests', 'urllib3') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n"


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_the_token_goes_to_its_own_host_only_across_redirects(
    kind: str,
    server: LoopbackServer,
    clients: Callable[..., HttpClient],
    tmp_path: Path,
) -> None:
    other = LoopbackServer()
    try:
        other.route("/asset", Route(body=b"asset"))
        server.route("/download", Route(redirect_to=f"{other.url}/asset"))
        token = Secret("ghp_s3cr3t", host=f"127.0.0.1:{server.port}")
        http = clients(kind)
        http.download(
            f"{server.url}/download",
            tmp_path / "f",
            what=WHAT,
            token=token,
            cross_host_redirects=True,
        )
        assert [r.headers.get("Authorization") for r in server.requests] == ["Bearer ghp_s3cr3t"]
        assert [r.headers.get("Authorization") for r in other.requests] == [None]
        assert (tmp_path / "f").read_bytes() == b"asset"
        # A token for another host is not sent here at all.
        http.get(f"{other.url}/asset", what=WHAT, token=token)
        assert [r.headers.get("Authorization") for r in other.requests] == [None, None]
    finally:
        other.close()
