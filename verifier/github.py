"""GitHub REST API client: releases by tag, their assets, and users' published signing keys.

All requests go through ``HttpClient``. The token, when there is one, is a ``Secret`` bound to
the API host: asset downloads that GitHub redirects to its storage host go there without it.

GitHub allows 60 API requests an hour without a token, so the client spends them carefully:
a repository's releases are listed once per run (one request answers for every tag spelling
and for every package of a lockfile that shares the repository); API answers are revalidated
with ``If-None-Match`` through the HTTP cache (a 304 costs no rate limit); and once GitHub says
the limit is spent, no further request is made in the run: each later question fails at once
with the quota GitHub stated, instead of waiting an hour or retrying into the same wall.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from verifier.errors import NotFoundError, RateLimitedError, UpstreamError, VerifierError
from verifier.http import DEFAULT_MAX_BYTES, HttpClient, check_url
from verifier.secrets import Secret, token_from_env

DEFAULT_API_URL = "https://api.github.com"
API_JSON = "application/vnd.github+json"
MAX_ASSET_BYTES = 1024 * 1024 * 1024
MAX_BUNDLE_BYTES = 1024 * 1024
RELEASES_PER_PAGE = 100
"""GitHub's largest page: the newest 100 releases in one request."""
MAX_RELEASES_BYTES = 32 * 1024 * 1024
"""A page of 100 releases with their notes and asset lists is a few MB for the largest projects."""


@dataclass(frozen=True)
class Asset:
    """One file attached to a GitHub Release."""

    name: str
    api_url: str
    size: int | None


@dataclass(frozen=True)
class GitHubRelease:
    """A GitHub Release and its assets."""

    tag: str
    html_url: str | None
    assets: tuple[Asset, ...]

    def asset(self, name: str) -> Asset | None:
        """The asset called exactly ``name``, if attached."""
        return next((a for a in self.assets if a.name == name), None)


@dataclass(frozen=True)
class ReleaseListing:
    """A repository's published releases, newest first, as one page of the list answered."""

    releases: tuple[GitHubRelease, ...]
    complete: bool
    """The page held every release (fewer than a full page): a tag not in it has no release."""

    def by_tag(self, tag: str) -> GitHubRelease | None:
        """The release of exactly ``tag`` (GitHub tag names are case-sensitive)."""
        return next((r for r in self.releases if r.tag == tag), None)


def git_base_url(api_url: str) -> str:
    """Where repositories are cloned from, for an API root.

    ``https://api.github.com`` -> ``https://github.com``; GitHub Enterprise
    ``https://HOST/api/v3`` -> ``https://HOST``; anything else: the API root itself.
    """
    parts = urlsplit(api_url.rstrip("/"))
    if parts.hostname == "api.github.com":
        return "https://github.com"
    path = parts.path[: -len("/api/v3")] if parts.path.endswith("/api/v3") else parts.path
    return parts._replace(path=path, query="", fragment="").geturl().rstrip("/")


def api_host(api_url: str) -> str:
    """``host[:port]`` of the API, the only place the token may go."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


class GitHubClient:
    """Reads public release data; a token only raises the rate limit."""

    def __init__(
        self, http: HttpClient, api_url: str = DEFAULT_API_URL, token: Secret | None = None
    ) -> None:
        check_url(api_url)
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.token = token
        self._lock = threading.Lock()
        self._listings: dict[str, ReleaseListing | VerifierError] = {}
        """Per repository (lower-cased, as GitHub compares names): the listing or its error."""
        self._repository_locks: dict[str, threading.Lock] = {}
        self._rate_limited: RateLimitedError | None = None
        """Set once GitHub says the limit is spent: no request is made after it in this run."""

    @classmethod
    def from_env(cls, http: HttpClient, api_url: str = DEFAULT_API_URL) -> GitHubClient:
        """A client using ``GITHUB_TOKEN``/``GH_TOKEN`` when set."""
        return cls(http, api_url, token_from_env(api_host(api_url)))

    def _rate_limit_hint(self) -> str:
        if self.token is None:
            return (
                "set GITHUB_TOKEN: a token raises the GitHub API rate limit (60 requests an hour "
                "without one); or run again after the reset"
            )
        return "the token's GitHub API rate limit is spent; run again after the reset"

    def _before_request(self, what: str) -> None:
        """Refuse to ask GitHub anything once it said the rate limit is spent."""
        limited = self._rate_limited
        if limited is not None:
            raise RateLimitedError(
                f"{what}: not requested: the GitHub API rate limit was reached earlier in this "
                f"run ({limited.state})",
                state=limited.state,
                status=limited.status,
                hint=limited.hint,
            )

    def _limited(self, exc: RateLimitedError) -> RateLimitedError:
        """Remember a spent limit for the rest of the run; the error, with what to do."""
        exc.hint = self._rate_limit_hint()
        with self._lock:
            if self._rate_limited is None:
                self._rate_limited = exc
        return exc

    def _get_json(self, path: str, *, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
        self._before_request(what)
        try:
            response = self.http.get(
                f"{self.api_url}{path}",
                what=what,
                accept=API_JSON,
                token=self.token,
                extra_headers={"X-GitHub-Api-Version": "2022-11-28"},
                content_types=("application/json", API_JSON),
                # ETag revalidation: GitHub answers an unchanged resource with a 304, which
                # does not count against the rate limit.
                cache="revalidate",
                wait_on_rate_limit=False,
                max_bytes=max_bytes,
            )
        except RateLimitedError as exc:
            raise self._limited(exc) from None
        return response.json(what=what)

    def releases(self, repository: str) -> ReleaseListing:
        """The newest page of ``repository``'s published releases, asked once per run.

        ``GET /repos/{owner}/{repo}/releases?per_page=100``. Several packages of a lockfile
        can share a repository, so the answer (or the error) is kept for the run, and
        concurrent callers for one repository wait for a single request. Drafts are left out:
        they are not published, and the per-tag endpoint does not return them either.
        """
        key = repository.lower()
        with self._lock:
            lock = self._repository_locks.setdefault(key, threading.Lock())
        with lock:
            known = self._listings.get(key)
            if known is None:
                try:
                    known = self._list_releases(repository)
                except RateLimitedError:
                    raise  # later callers get the run-wide "not requested" answer instead
                except VerifierError as exc:
                    known = exc
                self._listings[key] = known
        if isinstance(known, VerifierError):
            raise known
        return known

    def _list_releases(self, repository: str) -> ReleaseListing:
        what = f"GitHub releases of {repository}"
        data = self._get_json(
            f"/repos/{_slug(repository)}/releases?per_page={RELEASES_PER_PAGE}",
            what=what,
            max_bytes=MAX_RELEASES_BYTES,
        )
        if not isinstance(data, list):
            raise UpstreamError(f"{what}: the response is not a list")
        releases: list[GitHubRelease] = []
        for index, raw in enumerate(data):
            where = f"{what}: [{index}]"
            if not isinstance(raw, dict):
                raise UpstreamError(f"{where} must be an object")
            tag = raw.get("tag_name")
            if not isinstance(tag, str):
                raise UpstreamError(f"{where} needs a string 'tag_name'")
            if raw.get("draft") is True:
                continue
            releases.append(_release(raw, tag=tag, what=where))
        return ReleaseListing(releases=tuple(releases), complete=len(data) < RELEASES_PER_PAGE)

    def release_by_tag(self, repository: str, tag: str) -> GitHubRelease:
        """``GET /repos/{owner}/{repo}/releases/tags/{tag}`` (``NotFoundError`` when absent)."""
        what = f"GitHub release {tag} of {repository}"
        data = self._get_json(
            f"/repos/{_slug(repository)}/releases/tags/{quote(tag, safe='')}", what=what
        )
        return _release(data, tag=tag, what=what)

    def find_release(self, repository: str, tags: Sequence[str]) -> GitHubRelease:
        """The release of the first tag candidate that has one (``NotFoundError`` if none).

        One listing answers for every candidate; only when the repository has more releases
        than one page holds (an old version) is each candidate asked for by tag.
        """
        missing = NotFoundError(f"no GitHub release of {repository} for tag {' or '.join(tags)}")
        try:
            listing = self.releases(repository)
        except NotFoundError:
            raise missing from None
        for tag in tags:
            found = listing.by_tag(tag)
            if found is not None:
                return found
        if not listing.complete:
            for tag in tags:
                try:
                    return self.release_by_tag(repository, tag)
                except NotFoundError:
                    continue
        raise missing

    def download_asset(self, asset: Asset, dest: Path, *, max_bytes: int = MAX_ASSET_BYTES) -> str:
        """Download an asset through the API (GitHub redirects to its storage host)."""
        check_url(asset.api_url)
        what = f"release asset {asset.name}"
        self._before_request(what)
        cap = min(max_bytes, asset.size + 1024) if asset.size is not None else max_bytes
        try:
            return self.http.download(
                asset.api_url,
                dest,
                what=what,
                max_bytes=cap,
                token=self.token,
                accept="application/octet-stream",
                cross_host_redirects=True,
                wait_on_rate_limit=False,
            )
        except RateLimitedError as exc:
            raise self._limited(exc) from None

    def ssh_signing_keys(self, login: str) -> list[str]:
        """The SSH signing keys ``login`` publishes (``GET /users/{login}/ssh_signing_keys``)."""
        data = self._get_json(
            f"/users/{quote(login, safe='')}/ssh_signing_keys", what=f"SSH signing keys of {login}"
        )
        return (
            [k["key"] for k in data if isinstance(k, dict) and isinstance(k.get("key"), str)]
            if isinstance(data, list)
            else []
        )

    def gpg_keys(self, login: str) -> list[str]:
        """The armored OpenPGP keys ``login`` publishes (``GET /users/{login}/gpg_keys``)."""
        data = self._get_json(
            f"/users/{quote(login, safe='')}/gpg_keys", what=f"OpenPGP keys of {login}"
        )
        if not isinstance(data, list):
            return []
        return [
            k["raw_key"] for k in data if isinstance(k, dict) and isinstance(k.get("raw_key"), str)
        ]


def _release(data: Any, *, tag: str, what: str) -> GitHubRelease:
    """One release object of the API (alone or in a list), checked field by field."""
    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        raise UpstreamError(f"{what}: the response has no 'assets' list")
    assets: list[Asset] = []
    for index, raw in enumerate(data["assets"]):
        if not isinstance(raw, dict):
            raise UpstreamError(f"{what}: assets[{index}] must be an object")
        name, url = raw.get("name"), raw.get("url")
        if not isinstance(name, str) or not isinstance(url, str):
            raise UpstreamError(f"{what}: assets[{index}] needs string 'name' and 'url'")
        size = raw.get("size")
        assets.append(
            Asset(
                name=name,
                api_url=url,
                size=size if isinstance(size, int) and size >= 0 else None,
            )
        )
    html = data.get("html_url")
    return GitHubRelease(
        tag=tag, html_url=html if isinstance(html, str) else None, assets=tuple(assets)
    )


def _slug(repository: str) -> str:
    owner, _, name = repository.partition("/")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"
