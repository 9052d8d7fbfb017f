"""GitHubClient within GitHub's rate limit, against the loopback FakeGitHub (real sockets).

Request counts come from the server's log: one listing answers for every tag spelling and for
every package that shares a repository; an answer already in the cache is revalidated with
If-None-Match; once GitHub says the limit is spent, nothing more is asked in the run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import FakeGitHub, Route
from verifier.errors import NotFoundError, RateLimitedError, UpstreamError
from verifier.github import RELEASES_PER_PAGE, GitHubClient
from verifier.http import HttpClient, HttpConfig
from verifier.secrets import Secret
from verifier.store import ResponseStore

REPO = "acme/widget"
LIST = f"/repos/{REPO}/releases"
RESET = "4102444800"
"""2100-01-01T00:00:00Z."""
SPENT = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": RESET}
STATE = "0 of 60 requests remain; the limit resets at 2100-01-01 00:00:00 UTC"
NO_TOKEN_HINT = (
    "set GITHUB_TOKEN: a token raises the GitHub API rate limit (60 requests an hour without "
    "one); or run again after the reset"
)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    try:
        yield server
    finally:
        server.close()


def _client(
    github: FakeGitHub, cache: Path | None = None, token: Secret | None = None
) -> GitHubClient:
    http = HttpClient(
        HttpConfig(max_retries=3, backoff=0.0),
        sleep=_no_sleep,
        cache=ResponseStore(cache) if cache is not None else None,
    )
    return GitHubClient(http, github.url, token)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the client waited {seconds}s: a rate limit must never stall a run")


def test_one_listing_answers_every_tag_spelling_and_every_package(github: FakeGitHub) -> None:
    github.add_release(REPO, "v1.0.0", {"a.whl.sigstore.json": b"x"})
    github.add_release(REPO, "2.0.0", {})
    client = _client(github)
    assert client.find_release(REPO, ["v2.0.0", "2.0.0"]).tag == "2.0.0"
    # Another package of the same repository (GitHub names ignore letter case).
    first = client.find_release("Acme/Widget", ["1.0.0", "v1.0.0"])
    assert (first.tag, [a.name for a in first.assets]) == ("v1.0.0", ["a.whl.sigstore.json"])
    with pytest.raises(NotFoundError) as missing:
        client.find_release(REPO, ["v3.0.0", "3.0.0"])
    assert missing.value.message == f"no GitHub release of {REPO} for tag v3.0.0 or 3.0.0"
    assert github.api.paths_requested() == [LIST]


def test_concurrent_packages_of_one_repository_share_one_request(github: FakeGitHub) -> None:
    github.add_release(REPO, "v1.0.0", {})
    github.api.routes[LIST].stall_before = 0.2
    client = _client(github)
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(client.find_release(REPO, ["v1.0.0"]).tag))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == ["v1.0.0"] * 4
    assert github.api.paths_requested() == [LIST]


def test_drafts_are_not_releases(github: FakeGitHub) -> None:
    draft = {"tag_name": "v1.0.0", "draft": True, "assets": []}
    github.api.route(
        LIST, Route(body=json.dumps([draft]).encode(), content_type="application/json")
    )
    with pytest.raises(NotFoundError):
        _client(github).find_release(REPO, ["v1.0.0"])


def test_a_full_page_falls_back_to_asking_by_tag(github: FakeGitHub) -> None:
    """An old release may be past the first page: then (only then) each tag is asked for."""
    github.add_release(REPO, "v0.1.0", {})
    newer = [{"tag_name": f"v9.{n}", "assets": []} for n in range(RELEASES_PER_PAGE)]
    github.api.route(LIST, Route(body=json.dumps(newer).encode(), content_type="application/json"))
    assert _client(github).find_release(REPO, ["0.1.0", "v0.1.0"]).tag == "v0.1.0"
    assert github.api.paths_requested() == [
        LIST,
        f"/repos/{REPO}/releases/tags/0.1.0",
        f"/repos/{REPO}/releases/tags/v0.1.0",
    ]


def test_a_repository_without_releases_is_asked_once(github: FakeGitHub) -> None:
    client = _client(github)
    for _ in range(2):
        with pytest.raises(NotFoundError) as missing:
            client.find_release(REPO, ["v1", "1"])
        assert missing.value.message == f"no GitHub release of {REPO} for tag v1 or 1"
    assert github.api.paths_requested() == [LIST]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{}", "GitHub releases of acme/widget: the response is not a list"),
        (b"[1]", "GitHub releases of acme/widget: [0] must be an object"),
        (b'[{"assets": []}]', "GitHub releases of acme/widget: [0] needs a string 'tag_name'"),
        (
            b'[{"tag_name": "v1"}]',
            "GitHub releases of acme/widget: [0]: the response has no 'assets' list",
        ),
    ],
)
def test_a_malformed_listing_is_an_upstream_error(
    github: FakeGitHub, body: bytes, message: str
) -> None:
    github.api.route(LIST, Route(body=body, content_type="application/json"))
    with pytest.raises(UpstreamError) as info:
        _client(github).find_release(REPO, ["v1"])
    assert info.value.message == message


def test_a_warm_cache_revalidates_and_a_304_reuses_the_stored_body(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.add_release(REPO, "v1.0.0", {"a.whl.sigstore.json": b"x"})
    route = github.api.routes[LIST]
    assert _client(github, tmp_path).find_release(REPO, ["v1.0.0"]).tag == "v1.0.0"
    # Only a 304 can still produce the release now: a 200 would carry this body.
    route.body = b"not json"
    again = _client(github, tmp_path).find_release(REPO, ["v1.0.0"])
    assert (again.tag, [a.name for a in again.assets]) == ("v1.0.0", ["a.whl.sigstore.json"])
    first, second = github.api.requests
    assert "If-None-Match" not in first.headers
    assert second.headers.get("If-None-Match") == route.headers["ETag"]


def test_a_spent_limit_stops_every_later_request(github: FakeGitHub) -> None:
    github.add_release(REPO, "v1.0.0", {})
    github.add_user_keys("acme", [], [])
    route = github.api.routes[LIST]
    route.fail_first, route.fail_status, route.fail_headers = 10, 403, SPENT
    client = _client(github)
    with pytest.raises(RateLimitedError) as first:
        client.find_release(REPO, ["v1.0.0", "1.0.0"])
    assert first.value.message == (
        f"GitHub releases of {REPO}: rate limited by 127.0.0.1:{github.api.port} (HTTP 403): "
        f"{STATE}"
    )
    assert first.value.hint == NO_TOKEN_HINT
    for ask, what in (
        (lambda: client.find_release(REPO, ["v1.0.0"]), f"GitHub releases of {REPO}"),
        (lambda: client.ssh_signing_keys("acme"), "SSH signing keys of acme"),
        (lambda: client.gpg_keys("acme"), "OpenPGP keys of acme"),
    ):
        with pytest.raises(RateLimitedError) as later:
            ask()
        assert later.value.message == (
            f"{what}: not requested: the GitHub API rate limit was reached earlier in this run "
            f"({STATE})"
        )
        assert later.value.hint == NO_TOKEN_HINT
    assert github.api.paths_requested() == [LIST]


@pytest.mark.parametrize(
    ("status", "headers", "state"),
    [
        # A secondary limit: 403 or 429 with Retry-After (here an hour), remaining not zero.
        (403, {"Retry-After": "3600", "X-RateLimit-Remaining": "12"}, "12 requests remain"),
        (429, {"Retry-After": "60"}, "the remaining requests are not stated"),
        (429, {}, "the remaining requests are not stated; the reset time is not stated"),
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9" * 20},
            "0 requests remain; the limit resets at an unusable time (99999999999999999999)",
        ),
        (429, {"Retry-After": "soon"}, "the limit resets at an unusable time (soon)"),
        (
            403,
            {"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"},
            "the limit resets at 2100-01-01 00:00:00 UTC",
        ),
    ],
)
def test_secondary_and_hostile_limits_are_never_waited_for(
    github: FakeGitHub, status: int, headers: dict[str, str], state: str
) -> None:
    github.add_release(REPO, "v1.0.0", {})
    route = github.api.routes[LIST]
    route.fail_first, route.fail_status, route.fail_headers = 10, status, headers
    with pytest.raises(RateLimitedError) as info:
        _client(github).find_release(REPO, ["v1.0.0"])
    assert state in info.value.message
    assert route.hits == 1


def test_a_token_run_says_the_token_is_spent_and_sends_it_to_the_api_only(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.add_release(REPO, "v1.0.0", {"a.whl.sigstore.json": b"bundle"})
    client = _client(github, token=Secret("canary-token", host=f"127.0.0.1:{github.api.port}"))
    release = client.find_release(REPO, ["v1.0.0"])
    client.download_asset(release.assets[0], tmp_path / "a")
    route = github.api.routes[f"/repos/{REPO}/releases/assets/1"]
    route.fail_first, route.fail_status, route.fail_headers = 10, 403, SPENT
    with pytest.raises(RateLimitedError) as info:
        client.download_asset(release.assets[0], tmp_path / "b")
    assert (
        info.value.hint == "the token's GitHub API rate limit is spent; run again after the reset"
    )
    assert {r.headers.get("Authorization") for r in github.api.requests} == {"Bearer canary-token"}
    assert all("Authorization" not in r.headers for r in github.storage.requests)
    with pytest.raises(RateLimitedError, match="not requested"):
        client.download_asset(release.assets[0], tmp_path / "c")
    assert route.hits == 2
