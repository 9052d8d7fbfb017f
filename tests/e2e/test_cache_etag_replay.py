"""A planted cache entry carrying the index's *current* ETag is served on a 304.

Revalidation sends the entry's own ETag: the real index answers 304 (the validator matches what
it serves now), and without authenticated entries the planted body (an old file list) would be
used. Entries carry an HMAC keyed outside the cache, so a planted one is a miss.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests import entries
from tests.conftest import Material
from tests.e2e.helpers import base_args, run
from tests.e2e.test_spine import REPO, serve_sdist
from tests.servers import FakeIndex, Route
from verifier.store import response_key

EVIL = "pypi_attestations-0.0.19+evil-py3-none-any.whl"


def test_a_planted_page_with_the_live_etag_hides_a_new_file(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    cache = tmp_path / "cache"
    args = ["pypi-attestations==0.0.19", "--repository", REPO, *base_args(index.url, cache)]
    assert run(capsys, *args).code == 0

    # The index now lists an extra, unattested wheel of 0.0.19: pip's ==0.0.19 may pick it.
    route = index.server.routes["/simple/pypi-attestations/"]
    page = json.loads(route.body)
    wheel = b"not checked by anyone"
    page["files"].append(
        {
            "filename": EVIL,
            "url": index.url + "/files/" + EVIL,
            "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()},
        }
    )
    route.body = json.dumps(page).encode()
    live_etag = '"new"'
    route.headers = {"ETag": live_etag, "Cache-Control": "max-age=600, public"}
    index.server.route("/files/" + EVIL, Route(body=wheel))

    # The planter keeps the old body and copies the validator anyone can read off the live page;
    # stored_at is in the past, so the entry is not fresh and is revalidated.
    key = response_key(
        index.url + "/simple/pypi-attestations/", "application/vnd.pypi.simple.v1+json"
    )
    entry = entries.entry_path(cache / "http", key)
    meta = entries.read(entry).metadata()
    meta["etag"] = live_etag
    meta["stored_at"] = 0
    entries.edit(entry, meta=meta)

    result = run(capsys, *args)
    assert EVIL in result.out, "the new wheel was never judged"
    # Judged: an unattested file among attested siblings is a downgrade (issue 12's rule).
    assert result.code == 1, result.out
    assert f"FAILED       history        {EVIL}  attestations missing from one file" in result.out


def test_cache_entries_are_authenticated_by_a_key_outside_the_cache(tmp_path: Path) -> None:
    from verifier.store import ResponseStore, cache_key

    key = cache_key(tmp_path / "data" / "cache.key")
    assert key is not None
    assert cache_key(tmp_path / "data" / "cache.key") == key  # created once, then read
    assert oct((tmp_path / "data" / "cache.key").stat().st_mode & 0o777) == "0o600"
    store = ResponseStore(tmp_path / "cache", mac_key=key)
    store.save(
        "k1",
        url="https://x/",
        status=200,
        content_type="t",
        etag='"e"',
        cache_control="max-age=60",
        body=b"page",
    )
    assert store.load("k1") is not None
    # The same entry read with another key (another user, another runner) is a miss.
    assert ResponseStore(tmp_path / "cache", mac_key=b"x" * 32).load("k1") is None
    # A body swapped under valid metadata is a miss too.
    entry = next((tmp_path / "cache").rglob("k1.entry"))
    entries.edit(entry, body=b"another page")
    assert store.load("k1") is None
