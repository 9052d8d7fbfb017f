"""GitHub REST API client: releases by tag, their assets, and users' published signing keys.

All requests go through ``HttpClient``. The token, when there is one, is a ``Secret`` bound to
the API host: asset downloads that GitHub redirects to its storage host go there without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from verifier.errors import UpstreamError
from verifier.http import HttpClient, check_url
from verifier.secrets import Secret, token_from_env

DEFAULT_API_URL = "https://api.github.com"
API_JSON = "application/vnd.github+json"
MAX_ASSET_BYTES = 1024 * 1024 * 1024
MAX_BUNDLE_BYTES = 1024 * 1024


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

    @classmethod
    def from_env(cls, http: HttpClient, api_url: str = DEFAULT_API_URL) -> GitHubClient:
        """A client using ``GITHUB_TOKEN``/``GH_TOKEN`` when set."""
        return cls(http, api_url, token_from_env(api_host(api_url)))

    def _get_json(self, path: str, *, what: str) -> Any:
        response = self.http.get(
            f"{self.api_url}{path}",
            what=what,
            accept=API_JSON,
            token=self.token,
            extra_headers={"X-GitHub-Api-Version": "2022-11-28"},
            content_types=("application/json", API_JSON),
        )
        return response.json(what=what)

    def release_by_tag(self, repository: str, tag: str) -> GitHubRelease:
        """``GET /repos/{owner}/{repo}/releases/tags/{tag}`` (``NotFoundError`` when absent)."""
        what = f"GitHub release {tag} of {repository}"
        data = self._get_json(
            f"/repos/{_slug(repository)}/releases/tags/{quote(tag, safe='')}", what=what
        )
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

    def download_asset(self, asset: Asset, dest: Path, *, max_bytes: int = MAX_ASSET_BYTES) -> str:
        """Download an asset through the API (GitHub redirects to its storage host)."""
        check_url(asset.api_url)
        cap = min(max_bytes, asset.size + 1024) if asset.size is not None else max_bytes
        return self.http.download(
            asset.api_url,
            dest,
            what=f"release asset {asset.name}",
            max_bytes=cap,
            token=self.token,
            accept="application/octet-stream",
            cross_host_redirects=True,
        )

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


def _slug(repository: str) -> str:
    owner, _, name = repository.partition("/")
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"
