"""End to end: one tag, not a history. The tag comes over git's smart HTTP (``git http-backend``
on loopback) from a repository of thousands of commits and hundreds of tags; only the tag object
and the commit it names may be fetched, and the cache must never hide a moved or deleted tag.
"""

from __future__ import annotations

import gzip
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.helpers import run
from tests.e2e.test_chain import World, build_world, git
from tests.gitrepos import big_repository, sign_tag, write_history
from tests.servers import FakeIndex, LoopbackServer, serve_git
from verifier.errors import VerifierError
from verifier.git import GitRepo

COMMITS = 3000


def _big_world(tmp_path: Path, index: FakeIndex) -> tuple[World, Path]:
    """The chain's world, its tag ``v1.0.0`` signed on the tip of a 3,000-commit history."""
    bare = tmp_path / "big.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare", "-b", "main")
    tip = write_history(bare, COMMITS, tag_every=10)
    world = build_world(tmp_path, index, claim_sha=tip)
    sign_tag(bare, tmp_path / "signing_key", "v1.0.0", "main")
    world.github.serve_repository("acme/widget", bare)
    return world, bare


def _args(world: World, *extra: str) -> list[str]:
    return [a for a in world.args(*extra) if a not in ("--git-repo", str(world.repo))]


def _clone(world: World, cache: Path) -> Path:
    return cache / "repos" / f"127.0.0.1-{world.github.api.port}" / "acme" / "widget"


def _objects(repo: Path) -> dict[str, int]:
    done = subprocess.run(
        ["git", "-C", str(repo), "count-objects", "-v"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"},
    )
    pairs = (line.split(": ") for line in done.stdout.splitlines())
    return {key: int(value) for key, value in pairs}


def _git_commands(world: World) -> list[str]:
    """What git asked the server, in order: ``GET`` (ref discovery) or the protocol v2 command."""
    asked = []
    for request in world.github.api.requests:
        if ".git/" not in request.path:
            continue
        if request.method == "GET":
            asked.append("GET")
        else:
            body = request.body
            if request.headers.get("Content-Encoding") == "gzip":  # git compresses large ones
                body = gzip.decompress(body)
            size = int(body[:4], 16)  # the first pkt-line: "command=NAME\n"
            asked.append(body[4:size].decode().strip().removeprefix("command="))
    return asked


def test_only_the_tag_and_its_commit_are_fetched_and_a_cached_fetch_is_reused(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world, bare = _big_world(tmp_path, index)
    try:
        first = run(capsys, *_args(world, "--require", "tags"))
        first_commands = _git_commands(world)
        pack_bytes = [r.sent for r in world.github.api.requests if r.path.endswith("-pack")]
        world.github.api.requests.clear()
        second = run(capsys, *_args(world, "--require", "tags"))
        second_commands = _git_commands(world)
        clone = _clone(world, tmp_path / "cache")
        # The fetch left the tree out; git must not go and get it (no promisor remote).
        tree, _, _ = GitRepo(clone).run(["cat-file", "-t", "refs/tags/v1.0.0^{tree}"], check=False)
        lazy = _git_commands(world)[len(second_commands) :]
    finally:
        world.github.close()

    assert first.code == 0, first.out
    assert "tag v1.0.0 signed by m@example.org (ED25519 SHA256:" in first.out
    assert f"(commit {git(bare, 'rev-parse', 'main')})" in first.out
    # ls-remote (discovery, ls-refs), then the fetch (discovery, ls-refs, fetch).
    assert first_commands == ["GET", "ls-refs", "GET", "ls-refs", "fetch"]
    objects = _objects(clone)
    assert objects["count"] == 0
    assert objects["in-pack"] == 2  # the tag object and its commit, of 3,000 commits' history
    assert _objects(bare)["in-pack"] > 12_000
    assert pack_bytes[-1] < 1_000  # the pack of two objects (the clone of all tags was 826 KB)
    assert "[remote " not in (clone / "config").read_text()
    assert tree != 0
    assert lazy == []
    # The remote still advertises the same tag object: only ls-remote, nothing fetched.
    assert second.code == 0, second.out
    assert "tag v1.0.0 signed by m@example.org (ED25519 SHA256:" in second.out
    assert second_commands == ["GET", "ls-refs"]


def test_a_tag_moved_upstream_is_fetched_again_and_fails(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world, bare = _big_world(tmp_path, index)
    try:
        first = run(capsys, *_args(world))
        sign_tag(bare, tmp_path / "signing_key", "v1.0.0", "main~1")
        moved = git(bare, "rev-parse", "main~1")
        world.github.api.requests.clear()
        second = run(capsys, *_args(world))
    finally:
        world.github.close()

    assert first.code == 0, first.out
    assert second.code == 1, second.out
    assert f"(commit {moved})" in second.out
    assert (
        "[FAIL] commit: the attestation certificate for widget-1.0.0-py3-none-any.whl "
        "names another source commit than tag v1.0.0" in second.out
    )
    assert _git_commands(world) == ["GET", "ls-refs", "GET", "ls-refs", "fetch"]


def test_a_tag_deleted_upstream_is_absent_not_read_from_the_cache(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world, bare = _big_world(tmp_path, index)
    try:
        first = run(capsys, *_args(world))
        git(bare, "tag", "-d", "v1.0.0")
        world.github.api.requests.clear()
        second = run(capsys, *_args(world, "--format", "json", "--require", "tags"))
    finally:
        world.github.close()

    assert first.code == 0, first.out
    assert second.code == 1, second.out
    [finding] = [f for f in second.findings() if f["check"] == "tag"]
    assert finding["outcome"] == "failed"
    assert finding["message"] == "no tag v1.0.0 or 1.0.0 in the repository"
    assert _git_commands(world) == ["GET", "ls-refs"]
    clone = _clone(world, tmp_path / "cache")
    assert not (clone / "refs" / "tags" / "v1.0.0").exists()


def test_evidence_mode_reads_the_fetched_tag_with_no_network(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, tmp_path: Path
) -> None:
    world, _ = _big_world(tmp_path, index)
    out = tmp_path / "evidence"
    try:
        fetched = run(capsys, "fetch", *_args(world, "--out", str(out), "--require", "tags"))
    finally:
        world.github.close()
    assert fetched.code == 0, fetched.out
    assert _objects(_clone(world, out))["in-pack"] == 2

    offline = run(
        capsys,
        *_args(
            world, "--evidence", str(out), "--require", "tags", "--cache-dir", str(tmp_path / "c2")
        ),
    )

    assert offline.code == 0, offline.out
    assert "tag v1.0.0 signed by m@example.org (ED25519 SHA256:" in offline.out


def test_packages_of_one_repository_fetch_their_tags_in_parallel_threads(tmp_path: Path) -> None:
    """A lockfile's packages from one monorepo share its cache repository."""
    bare, _, _ = big_repository(tmp_path, 120, tag_every=10)
    server = LoopbackServer()
    serve_git(server, "/acme/mono.git", bare)
    dest = tmp_path / "cache" / "mono"
    errors: list[str] = []

    def fetch(tag: str) -> None:
        try:
            GitRepo.fetch_tag(f"{server.url}/acme/mono.git", dest, [tag])
        except VerifierError as exc:
            errors.append(str(exc))

    tags = [f"v0.0.{n}" for n in range(10, 121, 10)]
    try:
        threads = [threading.Thread(target=fetch, args=(tag,)) for tag in tags]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.close()

    assert errors == []
    assert all(GitRepo(dest).tag_exists(tag) for tag in tags)
