"""Loopback stand-ins for PyPI (simple JSON, JSON API, Integrity API, files).

One threaded HTTP server on 127.0.0.1 with a route table. Each route can misbehave in the ways
a real network does (status codes, Retry-After, stalls, oversize or truncated bodies, resets,
redirects to another host), so tests exercise the real client code against real sockets.
The content served is real material from the registry (see conftest.py); only the transport
is simulated.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
MAX_REQUEST_BODY = 1024 * 1024
"""The largest request body (POST) the server reads; larger ones are answered 413."""
ENDLESS_LIMIT = 60.0
"""Seconds after which an endless body (``Route.endless``) gives up on a client that never stops."""

Responder = Callable[[bytes], tuple[int, bytes, str]]
"""A dynamic route: receives the request body, returns ``(status, body, content_type)``."""


@dataclass
class Route:
    """What one path answers, and how it misbehaves."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    fail_first: int = 0
    """Answer ``fail_status`` this many times before answering normally."""
    fail_status: int = 500
    retry_after: str | None = None
    fail_headers: dict[str, str] = field(default_factory=dict)
    """Extra headers on the failing answers (e.g. GitHub's X-RateLimit-*)."""
    stall_before: float = 0.0
    """Sleep before sending anything (a server that accepts and never answers)."""
    stall_after_bytes: int | None = None
    """Send this many body bytes, then sleep ``stall_for`` seconds."""
    stall_for: float = 0.0
    declared_length: int | None = None
    """Lie about Content-Length (oversize or truncated bodies)."""
    reset: bool = False
    """Close the socket without answering."""
    redirect_to: str | None = None
    gzip_body: bool = False
    endless: bool = False
    """Stream 64 KiB blocks of ASCII zeros, chunked, until the client hangs up (an endless body)."""
    respond: Responder | None = None
    """Answer from this callable instead of ``body``/``status``/``content_type``.

    Only a route with a responder accepts POST (others answer 405); the misbehaviour switches
    above still apply first.
    """
    hits: int = 0


@dataclass
class Request:
    """A request as the server saw it."""

    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""
    query: str = ""
    sent: int = 0
    """Body bytes answered (recorded for git's smart HTTP: what a fetch cost)."""


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 answering from a route table."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.git_repositories: dict[str, Path] = {}
        """URL prefix (``/OWNER/REPO.git``) -> bare repository answered by ``git http-backend``."""
        self.require_authorization: str | None = None
        """When set, every request without exactly this Authorization header is answered 401."""
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests the server was answering at once (concurrency, not timing).

        A request counts until its handler returns, a moment after the client has its answer,
        so a client's next request may overlap it: use ``max_stalled`` to count requests the
        client truly had out at once."""
        self.stalled = 0
        self.max_stalled = 0
        """The most requests held in a route's ``stall_before`` at once: each is still waiting
        for its answer, so this is the client's concurrency, without the race above."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self, method="POST")

            def do_HEAD(self) -> None:
                # Installers (uv) probe for range requests with HEAD; like a plain static host
                # without them, say the method is not allowed so they fetch the file whole.
                self.send_response(405)
                self.send_header("Allow", "GET")
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                """Clients that hang up early (retries, refused redirects) are expected."""

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def route(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route

    def paths_requested(self) -> list[str]:
        return [r.path for r in self.requests]

    def _handle(self, handler: BaseHTTPRequestHandler, method: str = "GET") -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._handle_one(handler, method)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handle_one(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        request_body = b""
        if method != "GET":
            if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
                request_body = _read_chunked(handler)
            else:
                length = int(handler.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BODY:
                    handler.close_connection = True
                    self._send(handler, 413, b"request body too large", "text/plain", {})
                    return
                request_body = handler.rfile.read(length)
        request = Request(
            path=path,
            headers=dict(handler.headers.items()),
            method=method,
            body=request_body,
            query=handler.path.partition("?")[2],
        )
        with self._lock:
            self.requests.append(request)
            route = self.routes.get(path)
            if route is not None:
                route.hits += 1
        for prefix, bare in self.git_repositories.items():
            if path.startswith(prefix + "/"):
                request.sent = _git_http_backend(handler, bare, path[len(prefix) :], request)
                return
        wanted = self.require_authorization
        if wanted is not None and handler.headers.get("Authorization") != wanted:
            self._send(handler, 401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="x"'})
            return
        if route is None:
            self._send(handler, 404, b"", "text/plain", {})
            return
        if method != "GET" and route.respond is None:
            self._send(handler, 405, b"", "text/plain", {"Allow": "GET"})
            return
        if route.stall_before:
            with self._lock:
                self.stalled += 1
                self.max_stalled = max(self.max_stalled, self.stalled)
            try:
                time.sleep(route.stall_before)
            finally:
                with self._lock:
                    self.stalled -= 1
        if route.reset:
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        if route.hits <= route.fail_first:
            extra = {"Retry-After": route.retry_after} if route.retry_after else {}
            extra.update(route.fail_headers)
            self._send(handler, route.fail_status, b"failing", "text/plain", extra)
            return
        if route.redirect_to is not None:
            self._send(handler, 302, b"", "text/plain", {"Location": route.redirect_to})
            return
        etag = route.headers.get("ETag")
        if etag is not None and handler.headers.get("If-None-Match") == etag:
            self._send(handler, 304, b"", route.content_type, {"ETag": etag})
            return
        if route.respond is not None:
            status, answer, content_type = route.respond(request_body)
            self._send(handler, status, answer, content_type, dict(route.headers))
            return
        if route.endless:
            self._stream_forever(handler, route)
            return
        body = route.body
        headers = dict(route.headers)
        if route.gzip_body:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if route.stall_after_bytes is not None:
            handler.send_response(route.status)
            handler.send_header("Content-Type", route.content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: route.stall_after_bytes])
            handler.wfile.flush()
            time.sleep(route.stall_for)
            with contextlib.suppress(OSError):
                handler.wfile.write(body[route.stall_after_bytes :])
            return
        self._send(
            handler, route.status, body, route.content_type, headers, declared=route.declared_length
        )

    @staticmethod
    def _stream_forever(handler: BaseHTTPRequestHandler, route: Route) -> None:
        """Send a chunked body that never ends; stop when the client closes the connection.

        A client that stops reading without closing blocks the write; the socket timeout then
        ends it, and ``ENDLESS_LIMIT`` bounds the stream even against a client that reads forever.
        """
        block = b"0" * 65536
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        handler.close_connection = True
        deadline = time.monotonic() + ENDLESS_LIMIT
        try:
            handler.connection.settimeout(5)
            handler.send_response(route.status)
            handler.send_header("Content-Type", route.content_type)
            handler.send_header("Transfer-Encoding", "chunked")
            for key, value in route.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            while time.monotonic() < deadline:
                handler.wfile.write(chunk)
        except OSError:
            pass

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str],
        declared: int | None = None,
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header(
                "Content-Length", str(declared if declared is not None else len(body))
            )
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(body)
            if declared is not None and declared != len(body):
                handler.close_connection = True
        except OSError:
            pass


@dataclass
class DistFile:
    """One distribution served by the fake index."""

    filename: str
    content: bytes
    provenance: bytes | None = None
    sha256: str | None = None
    """The digest the index publishes; defaults to the real digest of ``content``."""

    def published_digest(self) -> str:
        return self.sha256 or hashlib.sha256(self.content).hexdigest()


class FakeIndex:
    """PyPI's simple JSON, JSON and Integrity APIs for a few projects, on a ``LoopbackServer``."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.relative_urls = False
        """Serve file URLs relative to the project page (``../../files/NAME``)."""
        self.old_api = False
        """Serve api-version 1.1 pages without a ``provenance`` key, as indexes before PEP 740's
        simple API 1.3 do (the client then asks the Integrity API for every file)."""
        self.provenance_root = "/integrity"
        """Where provenance is served and what the page's ``provenance`` URLs name; another
        root shows the client fetches the URL the page gives, not one it builds by hand."""
        self.provenance_override: dict[str, object] = {}
        """A file name -> the ``provenance`` value its page entry carries instead (hostile URLs)."""

    @property
    def url(self) -> str:
        return self.server.url

    def file_url(self, filename: str) -> str:
        if self.relative_urls:
            return f"../..{self.file_path(filename)}"
        return self.url + self.file_path(filename)

    def file_path(self, filename: str) -> str:
        return f"/files/{filename}"

    def simple_path(self, project: str) -> str:
        return f"/simple/{project}/"

    def provenance_path(self, project: str, version: str, filename: str) -> str:
        return f"{self.provenance_root}/{project}/{version}/{filename}/provenance"

    def _provenance_key(self, project: str, version: str, dist: DistFile) -> dict[str, object]:
        """The page entry's ``provenance`` key as PyPI serves it (api 1.3): a URL or null."""
        if self.old_api:
            return {}
        if dist.filename in self.provenance_override:
            return {"provenance": self.provenance_override[dist.filename]}
        if dist.provenance is None:
            return {"provenance": None}
        return {"provenance": self.url + self.provenance_path(project, version, dist.filename)}

    def add_release(
        self,
        project: str,
        version: str,
        files: list[DistFile],
        real_page: dict[str, Any] | None = None,
        project_urls: dict[str, str] | None = None,
    ) -> None:
        """Serve ``files`` for ``project==version``.

        With ``real_page`` (a PEP 691 page downloaded from the registry) the real page is served
        with its file URLs pointed at this server and the entries of ``files`` kept; other
        versions' entries stay as they are (their URLs are never fetched).
        """
        names = {f.filename for f in files}
        entries: list[dict[str, Any]] = []
        if real_page is not None:
            page = json.loads(json.dumps(real_page))
            for entry in page["files"]:
                if entry["filename"] in names:
                    dist = next(f for f in files if f.filename == entry["filename"])
                    entry["url"] = self.file_url(dist.filename)
                    entry["hashes"] = {"sha256": dist.published_digest()}
                    entry.pop("provenance", None)
                    entry.update(self._provenance_key(project, version, dist))
                    entries.append(entry)
                elif version not in entry["filename"]:
                    entries.append(entry)
            page["files"] = entries
            page["meta"]["api-version"] = "1.1" if self.old_api else "1.3"
        else:
            page = {
                "meta": {"api-version": "1.1" if self.old_api else "1.3", "_last-serial": 1},
                "name": project,
                "versions": [version],
                "files": [
                    {
                        "filename": f.filename,
                        "url": self.file_url(f.filename),
                        "hashes": {"sha256": f.published_digest()},
                        "requires-python": ">=3.9",
                        "size": len(f.content),
                        "upload-time": "2024-12-04T23:14:04.599813Z",
                        "yanked": False,
                        **self._provenance_key(project, version, f),
                    }
                    for f in files
                ],
            }
        body = json.dumps(page).encode()
        # As PyPI serves simple pages: a validator and a short max-age.
        cache_headers = {
            "ETag": f'"{hashlib.sha256(body).hexdigest()[:16]}"',
            "Cache-Control": "max-age=600, public",
        }
        self.server.route(
            self.simple_path(project),
            Route(body=body, content_type=SIMPLE_JSON, headers=cache_headers),
        )
        for f in files:
            self.server.route(self.file_path(f.filename), Route(body=f.content))
            if f.provenance is not None:
                self.server.route(
                    self.provenance_path(project, version, f.filename),
                    Route(body=f.provenance, content_type=INTEGRITY_JSON),
                )
        if project_urls is not None:
            info = {
                "info": {
                    "name": project,
                    "version": version,
                    "project_urls": project_urls,
                    "home_page": None,
                }
            }
            info_body = json.dumps(info).encode()
            # As PyPI serves its JSON API: warehouse's legacy/api/json.py caches a release's
            # answer with cache_control(15 * 60), and every answer carries an ETag.
            json_headers = {
                "ETag": f'"{hashlib.sha256(info_body).hexdigest()[:16]}"',
                "Cache-Control": "max-age=900, public",
            }
            self.server.route(
                f"/pypi/{project}/{version}/json",
                Route(body=info_body, content_type="application/json", headers=json_headers),
            )


@dataclass(frozen=True)
class Listed:
    """One file of one release on a project page with several releases (``add_history``)."""

    version: str
    file: DistFile
    upload_time: object = "2026-01-02T10:00:00.000000Z"
    """As served: a string, or anything else a hostile index may send."""
    yanked: bool = False


def add_history_to(index: FakeIndex, project: str, listed: list[Listed]) -> None:
    """Serve one PEP 691 page (api 1.3) listing every file of several releases of ``project``.

    Each file carries its own ``upload-time`` and a ``provenance`` URL (or null when it has
    none), as PyPI serves a project with history; files and provenance are routed as by
    ``FakeIndex.add_release``.
    """
    files = []
    for item in listed:
        dist = item.file
        files.append(
            {
                "filename": dist.filename,
                "url": index.file_url(dist.filename),
                "hashes": {"sha256": dist.published_digest()},
                "size": len(dist.content),
                "upload-time": item.upload_time,
                "yanked": item.yanked,
                **index._provenance_key(project, item.version, dist),
            }
        )
        index.server.route(index.file_path(dist.filename), Route(body=dist.content))
        if dist.provenance is not None:
            index.server.route(
                index.provenance_path(project, item.version, dist.filename),
                Route(body=dist.provenance, content_type=INTEGRITY_JSON),
            )
    page = {
        "meta": {"api-version": "1.3", "_last-serial": 1},
        "name": project,
        "versions": sorted({item.version for item in listed}),
        "files": files,
    }
    index.server.route(
        index.simple_path(project), Route(body=json.dumps(page).encode(), content_type=SIMPLE_JSON)
    )


class FakeGitHub:
    """GitHub's REST API for releases, assets and users' signing keys, on loopback.

    Asset downloads redirect to a second server reached as ``localhost`` (another host than the
    API's ``127.0.0.1``), as GitHub redirects to its storage host, so tests can assert that the
    token never follows the redirect.
    """

    def __init__(self) -> None:
        self.api = LoopbackServer()
        self.storage = LoopbackServer()
        self._next_asset = 0
        self._releases: dict[str, list[dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        return self.api.url

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    def releases_path(self, repository: str) -> str:
        """Where the repository's release list is served (``?per_page=`` is ignored)."""
        return f"/repos/{repository}/releases"

    def add_release(self, repository: str, tag: str, assets: dict[str, bytes]) -> Route:
        """Serve ``GET /repos/{repository}/releases/tags/{tag}`` with ``assets``.

        The release also heads the repository's list (``GET /repos/{repository}/releases``),
        served with an ETag (a strong validator of its body) as GitHub does.
        """
        listed = []
        for name, content in assets.items():
            self._next_asset += 1
            number = self._next_asset
            self.storage.route(f"/storage/{number}", Route(body=content))
            self.api.route(
                f"/repos/{repository}/releases/assets/{number}",
                Route(redirect_to=f"http://localhost:{self.storage.port}/storage/{number}"),
            )
            listed.append(
                {
                    "name": name,
                    "size": len(content),
                    "id": number,
                    "url": f"{self.api.url}/repos/{repository}/releases/assets/{number}",
                    "browser_download_url": f"https://github.com/{repository}/releases/download/{tag}/{name}",
                }
            )
        release = {
            "tag_name": tag,
            "html_url": f"https://github.com/{repository}/releases/{tag}",
            "assets": listed,
        }
        listing = self._releases.setdefault(repository, [])
        listing.insert(0, release)
        body = json.dumps(listing).encode()
        self.api.route(
            self.releases_path(repository),
            Route(
                body=body,
                content_type="application/json",
                headers={"ETag": f'"{hashlib.sha256(body).hexdigest()[:16]}"'},
            ),
        )
        return self.api.route(
            f"/repos/{repository}/releases/tags/{tag}",
            Route(body=json.dumps(release).encode(), content_type="application/json"),
        )

    def add_user_keys(self, login: str, ssh_keys: list[str], gpg_keys: list[str]) -> None:
        """Serve a user's published SSH signing keys and OpenPGP keys."""
        ssh = [{"id": i, "key": k, "title": "signing"} for i, k in enumerate(ssh_keys)]
        gpg = [{"id": i, "raw_key": k} for i, k in enumerate(gpg_keys)]
        self.api.route(
            f"/users/{login}/ssh_signing_keys",
            Route(body=json.dumps(ssh).encode(), content_type="application/json"),
        )
        self.api.route(
            f"/users/{login}/gpg_keys",
            Route(body=json.dumps(gpg).encode(), content_type="application/json"),
        )

    def serve_repository(self, repository: str, bare: Path) -> None:
        """Serve a bare repository at /OWNER/REPO.git over git's smart HTTP, as a forge does.

        ``git http-backend`` answers (see ``serve_git``), so shallow and filtered fetches behave
        as on GitHub; every request lands in ``self.api.requests`` with the bytes answered.
        """
        serve_git(self.api, f"/{repository}.git", bare)


def serve_git(server: LoopbackServer, prefix: str, bare: Path) -> None:
    """Answer ``PREFIX/...`` on ``server`` with git's own smart HTTP server for ``bare``.

    The repository allows what GitHub allows: partial-clone filters and any reachable object
    in a want (``uploadpack.allowFilter``, ``uploadpack.allowAnySHA1InWant``).
    """
    for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
        subprocess.run(
            ["git", "-C", str(bare), "config", key, "true"],
            check=True,
            timeout=60,
            env=_GIT_SERVER_ENV,
        )
    server.git_repositories[prefix] = bare


_GIT_SERVER_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/bin:/bin",
}


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    """A chunked request body (git sends large POSTs so), up to ``MAX_REQUEST_BODY``."""
    body = b""
    while len(body) <= MAX_REQUEST_BODY:
        size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            handler.rfile.readline()
            break
        body += handler.rfile.read(size)
        handler.rfile.readline()
    return body


def _git_http_backend(
    handler: BaseHTTPRequestHandler, bare: Path, path_info: str, request: Request
) -> int:
    """Run ``git http-backend`` as a CGI for one request; the number of body bytes sent."""
    env = {
        **_GIT_SERVER_ENV,
        "GIT_PROJECT_ROOT": str(bare),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(request.body)),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if handler.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = handler.headers["Content-Encoding"]
    if handler.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
    done = subprocess.run(
        ["git", "http-backend"],
        input=request.body,
        capture_output=True,
        timeout=120,
        env={**env, "HOME": os.devnull},
        check=False,
    )
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    status, headers, content_type = 200, {}, "application/octet-stream"
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name.lower() == "content-type":
            content_type = value.strip()
        elif name:
            headers[name.strip()] = value.strip()
    if done.returncode != 0 and not head:
        status, body = 500, done.stderr
    LoopbackServer._send(handler, status, body, content_type, headers)
    return len(body)
