"""A project with a history on a loopback index and a loopback forge, for the history tests.

One version per ``ForgeRelease``, made in list order a day apart (commits and tags carry those
dates, as real tags do): an upload to the index (with an upload time, attested by the local
Sigstore stack or not), a tag (SSH-signed by the trusted key or by another one, annotated but
unsigned, lightweight, or none), and a GitHub Release with or without a Sigstore bundle. The
repository is served over git's smart HTTP (``git http-backend``) by the fake GitHub.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.helpers import Run, run
from tests.e2e.test_chain import git
from tests.gitrepos import sign_tag
from tests.servers import DistFile, FakeGitHub, FakeIndex, Listed, Route, add_history_to
from tests.sigstore_local import GitHubClaims, LocalSigstore

REPO = "acme/widget"


@dataclass(frozen=True)
class ForgeRelease:
    """One version of ``widget``: what the index and the forge hold for it."""

    version: str
    uploaded: object
    """The index's upload time as served (anything a hostile index may send); None: never
    uploaded to the index (a tag or GitHub Release only)."""
    bundles: bool = True
    """The GitHub Release carries a Sigstore bundle (False: a release without)."""
    github_release: bool = True
    """False: no GitHub Release at all."""
    tag: str | None = "signed"
    """``signed``, ``other-key`` (signed by an untrusted key), ``unsigned`` (annotated),
    ``lightweight``, or None (no tag)."""
    bundle_repo: str = REPO
    """The repository the bundle's certificate names."""
    prefix: str = "v"
    """The tag name is PREFIX + version (a monorepo's ``widget-``)."""
    bundle_asset: str | None = None
    """The bundle's asset name (default: the wheel's name + ``.sigstore.json``)."""
    attested: bool = True
    """The upload carries PEP 740 provenance (False: a project without Trusted Publishing)."""


@dataclass
class ForgeWorld:
    tmp: Path
    index: FakeIndex
    github: FakeGitHub
    root: Path
    signers: Path
    options: tuple[str, ...]
    """Options every ``verify`` passes after the standard ones."""

    def verify(self, capsys: pytest.CaptureFixture[str], version: str, *extra: str) -> Run:
        """``verify-release widget==VERSION`` with the publisher pinned, JSON out."""
        return run(
            capsys,
            f"widget=={version}",
            *("--repository", f"https://github.com/{REPO}"),
            *("--index-url", self.index.url, "--github-api-url", self.github.url),
            *("--trusted-root", str(self.root), "--allowed-signers", str(self.signers)),
            *("--cache-dir", str(self.tmp / "cache"), "--offline", "-q"),
            *("--skip", "vulnerabilities", "--format", "json"),
            *self.options,
            *extra,
        )

    def git_commands(self) -> list[str]:
        """What git asked the server: ``GET`` (ref discovery) or the protocol v2 command."""
        asked = []
        for request in self.github.api.requests:
            if ".git/" not in request.path:
                continue
            if request.method == "GET":
                asked.append("GET")
                continue
            body = request.body
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            size = int(body[:4], 16)
            asked.append(body[4:size].decode().strip().removeprefix("command="))
        return asked

    def api_paths(self) -> list[str]:
        return [r.path for r in self.github.api.requests if ".git/" not in r.path]


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "m@example.org", "-f", str(path)],
        check=True,
        timeout=60,
    )


def build_forge(
    tmp: Path,
    index: FakeIndex,
    stack: LocalSigstore,
    releases: Sequence[ForgeRelease],
    *,
    options: Sequence[str] = (),
) -> ForgeWorld:
    """Publish ``releases`` on the index and the forge; the caller closes ``world.github``."""
    src = tmp / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    key, other = tmp / "signing_key", tmp / "other_key"
    _keygen(key)
    _keygen(other)
    signers = tmp / "allowed_signers"
    signers.write_text(f'm@example.org namespaces="git" {(tmp / "signing_key.pub").read_text()}')
    github = FakeGitHub()
    listed = []
    for number, item in enumerate(releases):
        # Each release made a day after the one before it (the list's order), as tags are.
        made = f"{1_767_000_000 + number * 86_400} +0000"
        (src / "VERSION").write_text(item.version)
        git(src, "add", "VERSION")
        git(src, "commit", "-q", "-m", f"release {item.version}", date=made)
        commit = git(src, "rev-parse", "HEAD")
        name = f"{item.prefix}{item.version}"
        if item.tag in ("signed", "other-key"):
            sign_tag(src, key if item.tag == "signed" else other, name, "HEAD", date=made)
        elif item.tag == "unsigned":
            git(src, "tag", "-a", name, "-m", name, date=made)
        elif item.tag == "lightweight":
            git(src, "tag", name, date=made)
        wheel = f"widget-{item.version}-py3-none-any.whl"
        data = f"the bytes of {wheel}".encode()
        if item.uploaded is not None:
            claims = GitHubClaims(
                repository=REPO, workflow="release.yml", ref=f"refs/tags/{name}", sha=commit
            )
            provenance = stack.provenance(wheel, data, claims) if item.attested else None
            dist = DistFile(wheel, data, provenance)
            listed.append(Listed(item.version, dist, upload_time=item.uploaded))
        if item.github_release:
            assets: dict[str, bytes] = {"NOTES.txt": b"release notes"}
            if item.bundles:
                bundle_claims = GitHubClaims(
                    repository=item.bundle_repo,
                    workflow="release.yml",
                    ref=f"refs/tags/{name}",
                    sha=commit,
                )
                asset = item.bundle_asset or f"{wheel}.sigstore.json"
                assets[asset] = stack.sign_artifact(data, bundle_claims).encode()
            github.add_release(REPO, name, assets)
    if not any(item.github_release for item in releases):
        # A repository with no GitHub Releases lists none (GitHub answers [], not 404).
        github.api.route(
            github.releases_path(REPO), Route(body=b"[]", content_type="application/json")
        )
    add_history_to(index, "widget", listed)
    bare = tmp / "widget.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True, timeout=60)
    github.serve_repository(REPO, bare)
    root = stack.write_trusted_root(tmp / "trusted_root.json")
    return ForgeWorld(tmp, index, github, root, signers, tuple(options))
