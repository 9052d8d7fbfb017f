"""Layers around a transport: the response cache, the evidence recorder, and its replay.

Each is a ``Transport`` wrapping another (replay wraps none: it *is* the network when
``--evidence DIR`` is given), so ``HttpClient`` stacks them and every verification goes through
the very same code path whether its responses come from the network, the cache or a recording.
The directories are hostile input (``verifier.store``): an entry that cannot be used is a cache
miss, or, for the evidence directory, evidence that could not be obtained (``NetworkError``),
never a crash.
"""

from __future__ import annotations

import logging

from verifier.errors import NetworkError, NotFoundError
from verifier.store import (
    ResponseStore,
    Stored,
    UnreadableEntry,
    UnwritableStore,
    max_age,
    response_key,
)
from verifier.transport import CHUNK, Headers, MemorySink, Reply, Request, Sink, Transport
from verifier.urls import redact_url

_logger = logging.getLogger("verifier.http")  # the name users' log filters already know

_RECORD_AGAIN = "record it again with `verify-release fetch --out DIR`"


class Caching:
    """Serve ``revalidate`` and ``immutable`` requests from a ``ResponseStore`` when it can.

    Immutable entries are never asked for again; revalidated ones within their (capped) max-age
    are served as they are, otherwise asked for with ``If-None-Match`` and served on a 304.
    Only in-memory bodies are cached (pages and JSON documents; downloads are not).
    """

    def __init__(self, inner: Transport, store: ResponseStore) -> None:
        """Wrap ``inner`` with ``store`` as the cache."""
        self.inner = inner
        self.store = store

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """A stored answer when it is still good, else the inner transport's (then stored)."""
        if request.cache == "none" or not isinstance(sink, MemorySink):
            return self.inner.fetch(request, sink)
        key = response_key(request.url, request.accept)
        stored = self.store.load(key)
        cached_body = _cached_body(stored) if stored is not None and stored.status == 200 else None
        if stored is None or cached_body is None:
            # Absent, not a 200, or unreadable: a miss, fetched again without a validator.
            return self._store(key, request, self.inner.fetch(request, sink), sink)
        if request.cache == "immutable" or stored.fresh():
            sink.write(cached_body)
            return _reply_from(stored, request.url)
        if stored.etag:
            request = _with_validator(request, stored.etag)
        reply = self.inner.fetch(request, sink)
        if reply.status == 304:
            self.store.touch(key, stored.body_sha256)
            sink.write(cached_body)
            served = _reply_from(stored, request.url)
            cache_control = reply.headers.get("cache-control")
            if cache_control is not None:
                # The recorder keeps the revalidated answer's Cache-Control.
                served.headers["cache-control"] = cache_control
            return served
        return self._store(key, request, reply, sink)

    def _store(self, key: str, request: Request, reply: Reply, sink: MemorySink) -> Reply:
        headers = reply.headers
        reusable = request.cache == "immutable" or (
            request.cache == "revalidate"
            and (
                headers.get("etag") is not None or max_age(headers.get("cache-control")) is not None
            )
        )
        if reusable:
            # Without a validator or a max-age a stored page could never be reused: skip the
            # write instead of paying for it on every run.
            try:
                self.store.save(
                    key,
                    url=reply.url,
                    status=reply.status,
                    content_type=headers.get("content-type", "").split(";")[0].strip().lower(),
                    etag=headers.get("etag"),
                    cache_control=headers.get("cache-control"),
                    body=sink.data(),
                )
            except UnwritableStore as exc:
                # A cache that cannot be written is only a slower run.
                _logger.info("not cached: %s", exc)
        return reply


class Recording:
    """Save every answer in the evidence directory (``verify-release fetch --out DIR``).

    A 404/410 of a page is recorded too, so that its replay says "not found" again; a store
    that cannot be written stops the run (``UnwritableStore``): the directory is its purpose.
    """

    def __init__(self, inner: Transport, store: ResponseStore) -> None:
        """Wrap ``inner``, recording into ``store``."""
        self.inner = inner
        self.store = store

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """The inner transport's answer, recorded."""
        key = response_key(request.url, request.accept)
        try:
            reply = self.inner.fetch(request, sink)
        except NotFoundError as exc:
            if not request.download:
                self.store.save(
                    key,
                    url=request.url,
                    status=exc.status or 404,
                    content_type="",
                    etag=None,
                    cache_control=None,
                )
            raise
        download = request.download
        sink.save(
            self.store,
            key,
            url=reply.url,
            status=reply.status,
            content_type="" if download else reply.headers.get("content-type", ""),
            etag=None,
            cache_control=None if download else reply.headers.get("cache-control"),
        )
        return reply


class Replaying:
    """Answer from the evidence directory alone: no network, the same code path."""

    def __init__(self, store: ResponseStore | None) -> None:
        """Serve from ``store`` (None: an empty directory, where nothing is found)."""
        self.store = store

    def fetch(self, request: Request, sink: Sink) -> Reply:
        """The recorded answer; a missing or unusable entry is a ``NetworkError``."""
        url, what = request.url, request.what
        stored = self._entry(response_key(url, request.accept), url, what=what)
        if request.download:
            if stored.status != 200:
                raise NetworkError(f"{what}: not in the evidence directory ({redact_url(url)})")
        elif stored.status in (404, 410):
            raise NotFoundError(
                f"{what}: not found (HTTP {stored.status}, from the evidence directory)",
                status=stored.status,
            )
        try:
            if stored.verified_body is not None:
                sink.write(stored.verified_body)  # read with its metadata: no second open
            else:
                with stored.open_body() as source:
                    for block in iter(lambda: source.read(CHUNK), b""):
                        sink.write(block)
        except UnreadableEntry as exc:
            raise NetworkError(
                f"{what}: the evidence directory's entry for {redact_url(url)} is unusable: {exc}",
                hint=_RECORD_AGAIN,
            ) from None
        return Reply(
            url=stored.url_for(url),
            status=stored.status,
            headers=Headers({"content-type": stored.content_type}),
        )

    def _entry(self, key: str, url: str, *, what: str) -> Stored:
        """The recorded response for ``url``; a missing or unusable entry is a ``NetworkError``.

        The evidence directory stands in for the network, so an entry it cannot give back is
        evidence that could not be obtained (UNVERIFIABLE), never a crash.
        """
        try:
            stored = self.store.read(key) if self.store is not None else None
        except UnreadableEntry as exc:
            raise NetworkError(
                f"{what}: the evidence directory's entry for {redact_url(url)} is unusable: {exc}",
                hint=_RECORD_AGAIN,
            ) from None
        if stored is None:
            if self.store is not None and self.store.has_older_entry(key):
                raise NetworkError(
                    f"{what}: the evidence directory holds it in an older verify-release's "
                    f"format, which this version does not read ({redact_url(url)})",
                    hint=_RECORD_AGAIN,
                )
            raise NetworkError(f"{what}: not in the evidence directory ({redact_url(url)})")
        return stored


def _cached_body(stored: Stored) -> bytes | None:
    """A cache entry's body, or None when it cannot be read (the entry is then a miss)."""
    try:
        return stored.body()
    except UnreadableEntry:
        return None


def _reply_from(stored: Stored, url: str) -> Reply:
    return Reply(
        url=stored.url_for(url), status=200, headers=Headers({"content-type": stored.content_type})
    )


def _with_validator(request: Request, etag: str) -> Request:
    import dataclasses

    headers = {**request.headers, "If-None-Match": etag}
    return dataclasses.replace(request, headers=headers, not_modified_ok=True)
