"""Attacks on the response store and the reports, found by a red team after the performance pass.

The cache is hostile input: an attacker who can write the cache directory (a shared CI cache,
a restored tarball) but does not hold the key in the data directory must not be able to make a
read return a body that is not the one this user's run stored for that request.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from tests import entries
from verifier.store import ResponseStore, response_key
from verifier.transport import Headers, MemorySink, Reply, Request, Sink
from verifier.wrappers import Caching

KEY = bytes(range(32))
URL = "https://pypi.org/simple/victim/"
ACCEPT = "application/vnd.pypi.simple.v1+json"
GOOD = b'{"name": "victim", "files": ["victim-2.0.tar.gz (the fix)"]}'
EVIL = b'{"name": "victim", "files": ["victim-1.0.tar.gz (vulnerable)"]}'


class _Inner:
    """A network that answers 304 to a revalidation, after ``before`` ran (the attacker)."""

    def __init__(
        self, before: Callable[[], None] | None = None, body: bytes = GOOD, max_age: int = 0
    ) -> None:
        self.before = before
        self.body = body
        self.max_age = max_age
        self.calls = 0

    def fetch(self, request: Request, sink: Sink) -> Reply:
        self.calls += 1
        if "If-None-Match" in request.headers:
            if self.before is not None:
                self.before()
            return Reply(url=request.url, status=304, headers=Headers({"etag": '"v2"'}))
        sink.write(self.body)
        return Reply(
            url=request.url,
            status=200,
            headers=Headers(
                {
                    "content-type": "application/json",
                    "etag": '"v2"',
                    "cache-control": f"max-age={self.max_age}",
                }
            ),
        )


def _get(caching: Caching, url: str = URL) -> tuple[Reply, bytes]:
    sink = MemorySink()
    reply = caching.fetch(
        Request(url=url, what="index page", max_bytes=10**7, accept=ACCEPT, cache="revalidate"),
        sink,
    )
    return reply, sink.data()


def test_touch_after_a_304_never_signs_metadata_planted_since_the_entry_was_read(
    tmp_path: Path,
) -> None:
    """ATTACK: during the revalidation request (the network round trip), replace the entry's
    metadata and body with planted ones (no MAC, any body_sha256, a max-age). ``touch`` reads
    whatever metadata is there, sets stored_at and signs it with this user's key, without
    checking the MAC it replaces: the planted entry is now authenticated, and the next run serves
    the attacker's body with no request at all (fresh for up to 600 s) or revalidates it with
    the attacker's ETag for ever.
    """
    root = tmp_path / "cache"
    path = entries.url_entry(root, URL, ACCEPT)

    def plant() -> None:
        meta = {
            "url": URL,
            "status": 200,
            "content_type": "application/json",
            "etag": '"v2"',
            "max_age": 600,
            "stored_at": time.time(),
        }
        # The attacker has no key: any MAC line will do.
        entries.write(
            path, entries.read(path), mac=b"0" * 64, meta=json.dumps(meta).encode(), body=EVIL
        )

    first = Caching(_Inner(), ResponseStore(root, mac_key=KEY))
    assert _get(first)[1] == GOOD  # stored, with a MAC
    second = Caching(_Inner(before=plant), ResponseStore(root, mac_key=KEY))
    assert _get(second)[1] == GOOD  # 304: served from the entry it read and checked
    network = _Inner()
    third = Caching(network, ResponseStore(root, mac_key=KEY))
    _, body = _get(third)
    assert body == GOOD, "a planted, unsigned entry was signed by touch() and served"


def test_an_entry_moved_to_another_requests_key_is_not_served_for_that_request(
    tmp_path: Path,
) -> None:
    """ATTACK: the MAC covers the metadata and the body's digest but not the key (URL, Accept)
    the entry belongs to. Without the key, copy this user's own valid entry for one URL (here
    another host's page, or another project's) over the files of another request: the cache
    serves it as if the index had redirected there, a cross-host 'redirect' the transport
    itself never follows, with that page's body.
    """
    root = tmp_path / "cache"
    other = "https://evil.example/simple/victim/"
    store = ResponseStore(root, mac_key=KEY)
    _get(Caching(_Inner(body=GOOD), store))
    _get(Caching(_Inner(body=EVIL), store), other)
    victim, source = response_key(URL, ACCEPT), response_key(other, ACCEPT)
    shutil.copyfile(entries.entry_path(root, source), entries.entry_path(root, victim))
    entry = ResponseStore(root, mac_key=KEY).load(victim)
    assert entry is None or entry.url == URL, (
        f"the entry stored for {other} is accepted for {URL} (served from {entry.url})"
    )


def test_another_projects_entry_is_not_served_for_this_project(tmp_path: Path) -> None:
    """The same attack on one host: /simple/other/'s entry copied over /simple/victim/'s."""
    root = tmp_path / "cache"
    other = "https://pypi.org/simple/other/"
    store = ResponseStore(root, mac_key=KEY)
    # PyPI's simple pages say max-age=600: a fresh entry is served with no request at all.
    _get(Caching(_Inner(body=GOOD, max_age=600), store))
    _get(Caching(_Inner(body=EVIL, max_age=600), store), other)
    victim, source = response_key(URL, ACCEPT), response_key(other, ACCEPT)
    shutil.copyfile(entries.entry_path(root, source), entries.entry_path(root, victim))
    network = _Inner(body=GOOD, max_age=600)
    reply, body = _get(Caching(network, ResponseStore(root, mac_key=KEY)))
    assert body == GOOD, f"{URL} was answered with {other}'s stored page (reply url {reply.url})"


def test_a_lone_surrogate_in_a_report_value_is_escaped_in_sarif_and_summary() -> None:
    """ATTACK (report): a lone surrogate in any reported string (a lockfile path given as
    non-UTF-8 bytes, which Python decodes to U+DC80..U+DCFF; a ``"\\udcff"`` escape in a file
    name or message an index sends as JSON) reaches the SARIF renderer, which crashes in
    ``quote`` (the location's URI), and the summary, whose text cannot be written as UTF-8:
    the run ends in an internal error with no report at all instead of the verdict. The JSON
    report escapes it (``ensure_ascii``); SARIF (``ensure_ascii=False``) and the summary do not.
    """
    from verifier.models import Check, Finding, Outcome, ReleaseReport, Report, compute_verdict
    from verifier.report import render

    finding = Finding(
        Check.INDEX_HASH,
        Outcome.FAILED,
        "x-1.0-\udcff.tar.gz",
        "the downloaded file's sha256 differs",
        location="locks/\udcffuv.lock:3",
    )
    report = Report(
        releases=(ReleaseReport(label="x==1.0", files=(), findings=(finding,)),),
        trust_root=None,
        verdict=compute_verdict([finding]),
        warnings=(),
    )
    for fmt in ("sarif", "summary"):
        out = render(report, fmt)
        out.encode("utf-8")  # what writing it to a file or $GITHUB_STEP_SUMMARY does
        assert "\udcff" not in out
