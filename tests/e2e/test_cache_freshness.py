"""a cache entry whose 'stored_at' is in the future (or 'max_age' huge) is fresh forever.

A planted/edited cache entry for an index page is then served with no request at all, so the
tool judges a file list the index no longer serves: pip sees the new (unchecked) wheel, the
tool says VERIFIED.
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


def test_future_stored_at_hides_a_new_file(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, material: Material, tmp_path: Path
) -> None:
    serve_sdist(index, material)
    cache = tmp_path / "cache"
    args = ["pypi-attestations==0.0.19", "--repository", REPO, *base_args(index.url, cache)]
    assert run(capsys, *args).code == 0

    # The planted entry: same body, stored "in the future".
    page_url = index.url + "/simple/pypi-attestations/"
    key = response_key(page_url, "application/vnd.pypi.simple.v1+json")
    entry = entries.entry_path(cache / "http", key)
    meta = entries.read(entry).metadata()
    meta["stored_at"] = 1e12
    entries.edit(entry, meta=meta)

    # The index now lists an extra wheel of 0.0.19 (with no provenance): pip's ==0.0.19 picks it.
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
    route.headers = {"ETag": '"new"', "Cache-Control": "max-age=600, public"}
    index.server.route("/files/" + EVIL, Route(body=wheel))
    before = len(index.server.requests)

    result = run(capsys, *args)
    page_requests = [r for r in index.server.requests[before:] if r.path.startswith("/simple/")]
    # The entry is not believed: the page is asked for again and the new, unattested wheel seen.
    assert len(page_requests) == 1
    assert result.code == 1, result.out
    assert (
        f"UNVERIFIABLE attestation    {EVIL}  the index has no provenance for this file (HTTP 404)"
    ) in result.out
    # An unattested file added next to an attested one is itself a downgrade (issue 12).
    assert f"FAILED       history        {EVIL}  attestations missing from one file" in result.out


@pytest.mark.parametrize(
    ("stored_at", "max_age", "fresh"),
    [
        (1000.0, 600, True),
        (1000.0, 10**9, False),
        (1e12, 600, False),
        (1000.0, None, False),
    ],
)
def test_freshness_is_capped_and_never_in_the_future(
    stored_at: float, max_age: int | None, fresh: bool
) -> None:
    from verifier.store import Stored

    entry = Stored(
        url="https://pypi.org/simple/x/",
        status=200,
        content_type="application/json",
        etag=None,
        max_age=max_age,
        stored_at=stored_at,
        body_path=Path("/nonexistent"),
    )
    assert entry.fresh(now=1000.0 + 700 if max_age == 10**9 else 1000.0 + 1) is fresh
